"""backups.locations: `offline` is the key; the old `offline_expected` still loads, a conflict is refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from tenken.collectors.settings import BackupLocation


def test_old_offline_name_is_read_as_offline() -> None:
    assert BackupLocation.model_validate({"path": "/mnt/offline-nas/emr", "offline_expected": True}).offline is True
    assert BackupLocation.model_validate({"path": "/mnt/x", "offline": True, "offline_expected": True}).offline is True


def test_conflicting_old_and_new_names_are_refused() -> None:
    with pytest.raises(ValidationError, match="offline_expected is the old name"):
        BackupLocation.model_validate({"path": "/mnt/x", "offline": False, "offline_expected": True})
