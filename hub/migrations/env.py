"""Alembic environment for the hub: always handed an open connection (in a transaction) by
`tenken.hub.migrations.upgrade`; there is no alembic.ini and no offline (SQL script) mode."""

from alembic import context
from tenken.hub.partitions import include_name
from tenken.hub.schema import all_metadata

conn = context.config.attributes["connection"]
context.configure(connection=conn, target_metadata=all_metadata(), render_as_batch=True, compare_type=True, include_name=include_name)
with context.begin_transaction():
    context.run_migrations()
