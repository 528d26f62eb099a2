"""Signed reports from real scans of two fixture hosts (a weak and a good one), each by its own agent key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from clihelp import run_tenken
from roots import make_good_root, make_weak_root, write_file


@dataclass(frozen=True)
class SignedHost:
    name: str
    report: Path  # signed DSSE envelope
    key: Path  # the agent's private key (0600)
    pub: Path


def scanned_host(where: Path, name: str, machine_id: str, *, weak: bool) -> SignedHost:
    root = (make_weak_root if weak else make_good_root)(where / f"{name}-root")
    write_file(root, "/etc/machine-id", machine_id + "\n")
    write_file(root, "/etc/hostname", name + "\n")
    keys = where / f"{name}-keys"
    res = run_tenken("keygen", str(keys))
    assert res.exit_code == 0, res.stderr
    out = where / f"{name}.dsse.json"
    res = run_tenken("scan", "local", "--root", str(root), "--sign", str(keys / "signer.key"), "-o", str(out))
    assert res.exit_code in (0, 1), res.stderr
    return SignedHost(name, out, keys / "signer.key", keys / "signer.pub")


def bundle_of(hosts: tuple[SignedHost, ...], out: Path) -> Path:
    """`tenken bundle` of the hosts' reports, signed with the first host's key, each report pinned to its own."""
    args = ["bundle", *(str(h.report) for h in hosts), "--key", str(hosts[0].key), "-o", str(out)]
    for h in hosts:
        args += ["--report-key", str(h.pub)]
    res = run_tenken(*args)
    assert res.exit_code == 0, res.stderr
    return out


def two_hosts(where: Path) -> tuple[SignedHost, SignedHost]:
    return (scanned_host(where, "ward-pc01", "1" * 32, weak=True), scanned_host(where, "ehr-db01", "2" * 32, weak=False))
