"""Pure parts of the SSH transport and inventory: known_hosts matching, destinations, batch records, ranges.

Parsers are total: arbitrary text gives typed values or a ValueError/BatchParseError, never another
exception (hypothesis).
"""

from __future__ import annotations

import base64
import contextlib
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sshd_fixture import keygen, public_line
from tenken.agent.inventory import MAX_PER_ENTRY, expand_address
from tenken.collectors.transport import ssh_batch
from tenken.collectors.transport.base import HostKeyChanged, HostKeyUnknown
from tenken.collectors.transport.ssh import build_command, parse_destination
from tenken.collectors.transport.ssh_known_hosts import (
    KnownHosts,
    fingerprint,
    format_line,
    host_token,
    parse_known_hosts,
    patterns_match,
)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, bytes, Path]]:
    d = tmp_path_factory.mktemp("hk")
    out = {}
    for name, kt in (("ed", "ed25519"), ("ec", "ecdsa"), ("ed2", "ed25519")):
        k = keygen(d / name, kt)
        t, b64 = public_line(k).split()[:2]
        out[name] = (t, base64.b64decode(b64), k)
    return out


def test_fingerprint_matches_ssh_keygen(keys) -> None:
    _kt, blob, path = keys["ed"]
    listed = subprocess.run(["ssh-keygen", "-lf", str(path) + ".pub"], capture_output=True, text=True, check=True).stdout
    assert fingerprint(blob) in listed


def test_hashed_and_port_entries_are_matched(tmp_path: Path, keys) -> None:
    kt, blob, path = keys["ed"]
    # an OpenSSH-hashed line (ssh-keygen -H) must match exactly its [host]:port and nothing else
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[db01.hosp.local]:2222 {public_line(path)}\n")
    subprocess.run(["ssh-keygen", "-H", "-f", str(kh)], check=True, capture_output=True)
    assert "|1|" in kh.read_text() and "db01" not in kh.read_text()
    known = KnownHosts.load(kh)
    assert known.verify("db01.hosp.local", 2222, kt, blob).lineno == 1
    assert known.verify("DB01.hosp.local", 2222, kt, blob)  # names are case-insensitive
    with pytest.raises(HostKeyUnknown, match=r"tenken hosts trust db01.hosp.local:22"):
        known.verify("db01.hosp.local", 22, kt, blob)


def test_changed_revoked_and_unknown(tmp_path: Path, keys) -> None:
    kt, blob, _ = keys["ed"]
    kt2, blob2, _ = keys["ed2"]
    kte, blobe, _ = keys["ec"]
    kh = tmp_path / "kh"
    kh.write_text(
        "# comment\n"
        "@cert-authority *.hosp.local ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDummyDummyDummyDummyDummyDummyDummyDum\n"
        f"{format_line('pacs', 22, kt, blob, hashed=False)}\n"
        f"@revoked * {kt2} {base64.b64encode(blob2).decode()}\n"
        "garbage line\n"
    )
    known = KnownHosts.load(kh)
    with pytest.raises(HostKeyChanged, match=r"CHANGED.*man-in-the-middle") as exc:
        known.verify("pacs", 22, kte, blobe)  # a different key (even of another type) is a change
    assert f"{kh}:3" in str(exc.value)
    with pytest.raises(HostKeyChanged, match="revoked"):
        known.verify("other", 22, kt2, blob2)
    with pytest.raises(HostKeyUnknown, match=r"unknown host key for other:22 \(ssh-ed25519 SHA256:"):
        known.verify("other", 22, kt, blob)


def test_patterns() -> None:
    assert patterns_match(("*.hosp.local", "!bad.hosp.local"), "ok.hosp.local")
    assert not patterns_match(("*.hosp.local", "!bad.hosp.local"), "bad.hosp.local")
    assert patterns_match(("10.0.0.?",), "10.0.0.5")
    assert not patterns_match(("10.0.0.?",), "10.0.0.55")
    assert host_token("Host", 22) == "host" and host_token("::1", 2200) == "[::1]:2200"


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("root@db01:2222", ("root", "db01", 2222)),
        ("db01", (None, "db01", 22)),
        ("audit@[fd00::5]:2200", ("audit", "fd00::5", 2200)),
        ("fd00::5", (None, "fd00::5", 22)),
        ("me@10.0.0.1", ("me", "10.0.0.1", 22)),
    ],
)
def test_parse_destination(text: str, want: tuple) -> None:
    d = parse_destination(text)
    assert (d.user, d.host, d.port) == want


@pytest.mark.parametrize("bad", ["@host", "host:0", "host:99999", "[::1", "-oProxyCommand=x", "a b"])
def test_parse_destination_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_destination(bad)


def test_build_command_quotes_and_uses_sudo_n() -> None:
    cmd = build_command(["cat", "/etc/it's here"], timeout=5, sudo=True)
    assert "sudo -n -- env LC_ALL=C LANG=C cat '/etc/it'\"'\"'s here'" in cmd
    assert "timeout -k 2 7" in cmd


def test_expand_address() -> None:
    assert expand_address("10.0.0.10-12") == ["10.0.0.10", "10.0.0.11", "10.0.0.12"]
    assert expand_address("10.0.0.254-10.0.1.1") == ["10.0.0.254", "10.0.0.255", "10.0.1.0", "10.0.1.1"]
    assert expand_address("192.168.1.0/30") == ["192.168.1.1", "192.168.1.2"]
    assert expand_address("192.168.1.7/32") == ["192.168.1.7"]
    assert expand_address("fd00::/126") == ["fd00::1", "fd00::2", "fd00::3"]
    assert expand_address("EHR-DB01.hosp.local") == ["ehr-db01.hosp.local"]
    with pytest.raises(ValueError, match="at most"):
        expand_address("10.0.0.0/8")
    with pytest.raises(ValueError, match="ends before"):
        expand_address("10.0.0.20-10")
    with pytest.raises(ValueError):
        expand_address("10.0.0.300")
    assert len(expand_address("10.1.0.0/22")) <= MAX_PER_ENTRY


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parsers_are_total(text: str) -> None:
    parse_known_hosts(text)
    for fn in (parse_destination, expand_address):
        with contextlib.suppress(ValueError):
            fn(text)
    ssh_batch.parse_stat_line(text)
    ssh_batch.parse_listing(text.encode("utf-8", "surrogateescape"))
    ssh_batch.parse_dir_stats(text.encode("utf-8", "surrogateescape"), "/etc")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["r", "l", "s"]), st.sampled_from(["ok", "missing", "denied"]),
                          st.text(alphabet=st.characters(blacklist_characters="\n", blacklist_categories=("Cs",)), min_size=1), st.binary())))
def test_batch_records_round_trip(recs: list[tuple[str, str, str, bytes]]) -> None:
    """Any payload bytes (NUL, newlines, fake headers) survive framing; a truncated stream is an error."""
    b = ssh_batch.new_boundary()
    out = b"".join(f"\n{b} {o} {s} {p}\n".encode("utf-8", "surrogateescape") + d for o, s, p, d in recs)
    parsed = ssh_batch.parse_records(out + f"\n{b} end - -\n".encode(), b)
    assert [(r.op, r.status, r.path, r.payload) for r in parsed] == recs
    with pytest.raises(ssh_batch.BatchParseError):
        ssh_batch.parse_records(out, b)
