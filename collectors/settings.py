"""What collectors are told about *where* to look. Never thresholds: those belong to checks' policy."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class BackupLocation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    path: str
    expected_generations: int | None = Field(default=None, ge=1)
    offline: bool = Field(default=False, description="This is the copy out of malware's reach (SO-11-1/SO-18-1)")
    label: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _old_offline_name(cls, data: object) -> object:
        """`offline_expected` (the Linux facts' old name) is read as `offline`; both with different values is an error."""
        if isinstance(data, dict) and "offline_expected" in data:
            data = dict(data)
            old = data.pop("offline_expected")
            if "offline" in data and data["offline"] != old:
                raise ValueError("offline_expected is the old name of offline; set only offline")
            data["offline"] = old
        return data


# Searched when no location is configured; the offline-copy question then becomes a `warn`.
DEFAULT_BACKUP_LOCATIONS = ("/srv/backup", "/backup", "/var/backup", "/var/backups/tenken")


class CollectSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    command_timeout: float = Field(default=10.0, gt=0)
    backup_locations: list[BackupLocation] = Field(default_factory=list)
    #: Extra files to search for plaintext passwords (path globs are not expanded remotely).
    secret_scan_paths: list[str] = Field(default_factory=list)
    #: Also run `apt-get -s dist-upgrade` on a remote Debian host and record where it disagrees with the
    #: file-based computation (off by default: it costs the target 2-3 CPU-seconds).
    apt_crosscheck: bool = False
    dnf_crosscheck: bool = False  # also run `dnf -C check-update` and record where it differs (evidence)
    #: Ask the Windows Update Agent (Windows Update or the host's WSUS) which updates are missing. Off by
    #: default: a search can take minutes and loads the update server when a whole fleet asks at once.
    windows_update_search: bool = False
    windows_update_search_timeout: float = Field(default=300.0, gt=0)
