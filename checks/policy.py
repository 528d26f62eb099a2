"""Thresholds checks judge against, loaded from config/policy.yaml and overridden by a site's policy file.

The defaults and where each comes from (the guideline, its Q&A, or a documented choice) live in the YAML
beside the numbers, so a hospital can see and override them. Here we only declare their types.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from tenken.checks.configfile import ConfigError, deep_merge, load_model, read_yaml
from tenken.collectors.settings import BackupLocation, CollectSettings
from tenken.config import data_path


def _octal(v: object) -> object:
    """File modes are written as people write them: "0640" (a YAML string) means octal."""
    if isinstance(v, str):
        try:
            return int(v, 8)
        except ValueError:
            return v
    return v


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PasswordPolicy(_Section):
    min_length: int = Field(13, ge=1)
    min_length_with_mfa_or_rotation: int = Field(8, ge=1)
    min_classes: int = Field(3, ge=1, le=4)
    #: long enough (min_length) but character classes not forced: warn by default (see config/policy.yaml)
    unmixed_status: Literal["fail", "warn"] = "warn"
    max_age_days_for_short: int = Field(60, ge=1)
    mfa_in_place: bool = False
    strong_hash_schemes: list[str] = Field(default_factory=lambda: ["yescrypt", "gost-yescrypt", "scrypt", "sha512", "sha256", "bcrypt"])
    weak_hash_schemes: list[str] = Field(default_factory=lambda: ["md5", "des", "bsdi", "nthash", "sunmd5", "plaintext"])
    min_sha_rounds: int = Field(5000, ge=1000)
    lockout_required: bool = True
    lockout_max_deny: int = Field(10, ge=1)
    nullok_status: Literal["fail", "warn"] = "warn"
    require_dictcheck: bool = True


class AccountPolicy(_Section):
    stale_days: int = Field(90, ge=1)
    allowed_uid0: list[str] = Field(default_factory=lambda: ["root"])
    max_admins: int | None = None


class PatchPolicy(_Section):
    max_pending_security: int = Field(0, ge=0)
    #: non-security updates pending beyond this warn; None: any pending update warns
    max_pending_total: int | None = None
    #: last upgrade (and package-index refresh) older than this warns
    max_days_since_update: int = Field(30, ge=1)
    #: last upgrade older than this fails
    fail_days_since_update: int = Field(90, ge=1)
    require_auto_updates: bool = False


class AntimalwarePolicy(_Section):
    #: signatures older than this fail
    max_signature_age_days: int = Field(7, ge=1)
    #: signatures older than this (but within the maximum) warn; None: no warning band
    warn_signature_age_days: int | None = Field(3, ge=1)
    required: bool = True
    #: an on-demand scanner alone (clamscan without clamd/clamonacc) does not count as always-on protection
    require_resident: bool = True


class TimePolicy(_Section):
    #: offset beyond this warns
    max_offset_seconds: float = Field(1.0, gt=0)
    #: offset beyond this fails
    fail_offset_seconds: float = Field(60.0, gt=0)
    max_stratum: int = Field(5, ge=1, le=15)
    trusted_servers: list[str] = Field(default_factory=list)


class BackupPolicy(_Section):
    min_generations: int = Field(3, ge=1)
    max_newest_age_days: float = Field(7, gt=0)
    locations: list[BackupLocation] = Field(default_factory=list)


class SshPolicy(_Section):
    permit_root_login_allowed: list[str] = Field(default_factory=lambda: ["no"])
    password_authentication_allowed: bool = False
    weak_ciphers: list[str] = Field(default_factory=list)
    weak_macs: list[str] = Field(default_factory=list)
    weak_kex: list[str] = Field(default_factory=list)
    weak_status: Literal["fail", "warn"] = "fail"


class ServicePolicy(_Section):
    unnecessary_services: list[str] = Field(default_factory=list)
    unnecessary_ports: dict[int, str] = Field(default_factory=dict)
    #: Windows service name (Win32_Service.Name, case-insensitive) -> what it is, for the same rule
    windows_unnecessary_services: dict[str, str] = Field(default_factory=dict)
    active_status: Literal["fail", "warn"] = "fail"
    installed_status: Literal["fail", "warn"] = "warn"


class LoggingPolicy(_Section):
    require_auditd: bool = False
    require_persistent_journal: bool = True
    max_log_file_mode: Annotated[int, BeforeValidator(_octal)] = Field(0o640, ge=0, le=0o777)
    #: wtmp/lastlog are world-readable by distribution default so `last`/`lastlog` work unprivileged.
    login_records_max_mode: Annotated[int, BeforeValidator(_octal)] = Field(0o664, ge=0, le=0o777)
    min_retention_days: int = Field(365, ge=1)
    #: The guideline gives no retention period: a shortfall is `warn` unless the site makes it binding.
    enforce_retention: bool = False
    #: Off-host copy (remote syslog) or tamper-evident audit rules expected by SO-17-2; `warn` when absent.
    expect_remote_or_immutable: bool = True


class HostProtectionPolicy(_Section):
    require_firewall: bool = True
    require_disk_encryption: bool = True
    #: SO-7-3 is about devices taken off-site: `portable` fails only laptops (chassis type or `portable`
    #: below) and warns elsewhere; `all` fails every unencrypted host.
    disk_encryption_scope: Literal["portable", "all"] = "portable"
    #: The site's own statement that this host is (true) or is not (false) taken off-site; None: detect.
    portable: bool | None = None
    require_usb_storage_block: bool = True
    require_screen_lock: bool = True
    max_screen_lock_idle_seconds: int = Field(900, ge=1)


class SecretScanPolicy(_Section):
    paths: list[str] = Field(default_factory=list)
    # SO-14-6 has no exception for root-only files: kept so old site policies load, and only "fail" is valid.
    root_only_status: Literal["fail"] = "fail"


class Tls12Exception(_Section):
    """A documented acceptance of TLS 1.2 where TLS 1.3 is hard (SO-13-6's proviso); turns its `warn` into `pass`."""

    targets: list[str] = Field(default_factory=lambda: ["*"], min_length=1)  # "host:port", or "*" for every endpoint
    justification: str = Field(min_length=1)
    approver: str | None = None
    reference: str | None = None
    expires: date | None = None  # after this day the exception is ignored (like a waiver)


class TlsPolicy(_Section):
    """TLS暗号設定ガイドライン 3.0.1 高セキュリティ型 as sets: membership and the rule are checked, not order."""

    guideline: str = "CRYPTREC GL-3001-3.0.1 TLS暗号設定ガイドライン 3.0.1 高セキュリティ型"
    tls13_suites: list[str] = Field(default_factory=lambda: [
        "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256",
        "TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256"])
    tls12_suites: list[str] = Field(default_factory=lambda: [f"TLS_{s}" for s in (
        "ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE_ECDSA_WITH_AES_256_CCM_8",
        "ECDHE_ECDSA_WITH_AES_256_CCM", "ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        "ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE_ECDSA_WITH_AES_128_CCM_8",
        "ECDHE_ECDSA_WITH_AES_128_CCM", "DHE_RSA_WITH_AES_256_GCM_SHA384", "DHE_RSA_WITH_AES_256_CCM_8", "DHE_RSA_WITH_AES_256_CCM",
        "DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "DHE_RSA_WITH_AES_128_GCM_SHA256", "DHE_RSA_WITH_AES_128_CCM_8",
        "DHE_RSA_WITH_AES_128_CCM")])  # IPA's pattern expanded by OpenSSL 3.0; sources in config/policy.yaml
    groups: list[str] = Field(default_factory=lambda: ["X25519", "X448", "secp256r1", "secp384r1", "secp521r1"])
    min_dh_bits: int = Field(2048, ge=1024)
    min_rsa_bits: int = Field(2048, ge=1024)
    min_ec_bits: int = Field(256, ge=160)
    forbidden_signature_hashes: list[str] = Field(default_factory=lambda: ["md5", "md2", "md4", "sha1", "sha224"])
    cert_expiry_warn_days: int = Field(30, ge=0)
    tls12_exceptions: list[Tls12Exception] = Field(default_factory=list)

    def tls12_exception_for(self, target: str, today: date | None = None) -> Tls12Exception | None:
        """The first exception naming `target` that has not expired on `today` (the scan's date). Without a
        date, an exception that has an expiry cannot be shown to hold and is ignored."""
        return next((e for e in self.tls12_exceptions if ("*" in e.targets or target in e.targets)
                     and (e.expires is None or (today is not None and e.expires >= today))), None)


class EosPolicy(_Section):
    #: warn this many days before an OS's end of support (config/eos.yaml holds the dates and sources)
    warn_days: int = Field(180, ge=0)


class AuditRequirement(_Section):
    """One advanced-audit subcategory that must record success and/or failure (keyed by its GUID)."""

    guid: str = Field(pattern=r"^\{[0-9A-Fa-f-]{36}\}$")
    name: str
    success: bool = True
    failure: bool = False


class WindowsPolicy(_Section):
    """Windows-only settings; thresholds shared with Linux stay in passwords/patches/antimalware/time/backups."""

    allow_smb1: bool = False
    require_rdp_nla: bool = True
    #: Ask the Windows Update Agent (Windows Update or WSUS) for missing updates; off by default (minutes per host).
    update_search: bool = False
    update_search_timeout: float = Field(300.0, gt=0)
    #: w32time on a workgroup host syncs once a week by default; logs then drift between syncs.
    max_time_sync_age_hours: float = Field(24, gt=0)
    required_audit: list[AuditRequirement] = Field(default_factory=lambda: [
        AuditRequirement(guid="{0CCE9215-69AE-11D9-BED3-505054503030}", name="Logon", success=True, failure=True),
        AuditRequirement(guid="{0CCE9216-69AE-11D9-BED3-505054503030}", name="Logoff", success=True, failure=False),
    ])


class Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = "default"
    passwords: PasswordPolicy = Field(default_factory=PasswordPolicy)
    accounts: AccountPolicy = Field(default_factory=AccountPolicy)
    patches: PatchPolicy = Field(default_factory=PatchPolicy)
    antimalware: AntimalwarePolicy = Field(default_factory=AntimalwarePolicy)
    time: TimePolicy = Field(default_factory=TimePolicy)
    backups: BackupPolicy = Field(default_factory=BackupPolicy)
    ssh: SshPolicy = Field(default_factory=SshPolicy)
    services: ServicePolicy = Field(default_factory=ServicePolicy)
    logging: LoggingPolicy = Field(default_factory=LoggingPolicy)
    host: HostProtectionPolicy = Field(default_factory=HostProtectionPolicy)
    secrets: SecretScanPolicy = Field(default_factory=SecretScanPolicy)
    tls: TlsPolicy = Field(default_factory=TlsPolicy)
    windows: WindowsPolicy = Field(default_factory=WindowsPolicy)
    eos: EosPolicy = Field(default_factory=EosPolicy)

    def collect_settings(self, command_timeout: float = 10.0) -> CollectSettings:
        return CollectSettings(
            command_timeout=command_timeout,
            backup_locations=list(self.backups.locations),
            secret_scan_paths=list(self.secrets.paths),
            windows_update_search=self.windows.update_search,
            windows_update_search_timeout=self.windows.update_search_timeout,
        )


DEFAULT_POLICY_FILE = "policy.yaml"


def load_policy(path: Path | str | None = None) -> Policy:
    """The shipped defaults, with the site's file (if any) merged over them."""
    default_path = data_path(DEFAULT_POLICY_FILE)
    base, node = read_yaml(default_path)
    if path is None:
        return load_model(default_path, Policy, data=base, node=node)
    override, onode = read_yaml(path)
    if override is None:
        override = {}
    if not isinstance(override, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    # errors are reported against the site's file: that is the one a person edits
    return load_model(path, Policy, data=deep_merge(base or {}, override), node=onode)
