"""`python -m tenken.hub`: the `tenken-hub` command line."""

from tenken.hub.cli import main

main()
