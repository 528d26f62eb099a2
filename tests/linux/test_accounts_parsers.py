"""Account parsers are total (any text in, typed facts out) and never let a hash through."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st
from tenken.collectors.linux.accounts import (
    classify_hash,
    parse_group,
    parse_lastlog,
    parse_login_defs,
    parse_passwd,
    parse_shadow,
    parse_sudoers_users,
    redact_shadow,
)

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400)


@given(text)
@settings(max_examples=200)
def test_parsers_are_total(s: str) -> None:
    parse_passwd(s)
    parse_shadow(s)
    parse_group(s)
    parse_login_defs(s)
    parse_sudoers_users(s)
    classify_hash(s)


@given(st.binary(max_size=2000), st.lists(st.integers(min_value=-5, max_value=100), max_size=10))
def test_lastlog_is_total(data: bytes, uids: list[int]) -> None:
    parse_lastlog(data, uids)


hash_body = st.text(alphabet="./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", min_size=22, max_size=86)


@given(st.sampled_from(["$1$", "$5$", "$6$", "$y$j9T$", "$2b$12$", "", "!$6$"]), hash_body, st.sampled_from(["alice", "bob", "svc"]))
def test_redacted_shadow_never_holds_the_hash(prefix: str, body: str, user: str) -> None:
    line = f"{user}:{prefix}{body}:19000:0:99999:7:::"
    red = redact_shadow(line)
    assert body not in red
    assert red.startswith(f"{user}:<")


def test_classify_known_schemes() -> None:
    assert classify_hash("$6$salt$abc").scheme == "sha512" and classify_hash("$6$salt$abc").rounds == 5000
    assert classify_hash("$6$rounds=1000$salt$abc").rounds == 1000
    assert classify_hash("$y$j9T$salt$hash").scheme == "yescrypt"
    assert classify_hash("$1$salt$hash").scheme == "md5"
    assert classify_hash("abJnggxhB/yWI").scheme == "des"
    assert classify_hash("").state == "empty"
    assert classify_hash("!").state == "locked" and classify_hash("*").state == "disabled"
    assert classify_hash("!$6$s$h").state == "locked"
    assert classify_hash("hunter2!").state == "plaintext"
    assert classify_hash("$2b$12$abc").rounds == 4096


def test_sudoers_users_and_groups() -> None:
    users, groups = parse_sudoers_users(
        "Defaults env_reset\nroot ALL=(ALL:ALL) ALL\n%sudo ALL=(ALL:ALL) ALL\n%wheel ALL=(ALL) NOPASSWD: ALL\n"
        "deploy ALL=(root) /usr/bin/systemctl\n# carol ALL=(ALL) ALL\n"
    )
    assert users == ["root"] and groups == ["sudo", "wheel"]


def test_lastlog_record_layout() -> None:
    rec = struct.Struct("=l32s256s")
    t = int(datetime(2026, 1, 2, tzinfo=UTC).timestamp())
    data = rec.pack(0, b"", b"") + rec.pack(t, b"pts/0", b"10.0.0.1")
    assert parse_lastlog(data, [0, 1, 2]) == {1: datetime(2026, 1, 2, tzinfo=UTC)}


def _utmp(kind: int, user: bytes, secs: int) -> bytes:
    return struct.Struct("<h2xi32s4s32s256shhiii4i20s").pack(kind, 1, b"pts/0", b"ts/0", user, b"10.0.0.9", 0, 0, 0, secs, 0, 0, 0, 0, 0, b"")


def test_wtmp_last_login_per_user() -> None:
    from tenken.collectors.linux.accounts import parse_wtmp

    t1 = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp())
    t2 = int(datetime(2026, 5, 1, tzinfo=UTC).timestamp())
    data = _utmp(7, b"alice", t1) + _utmp(8, b"bob", t2) + _utmp(7, b"alice", t2) + _utmp(2, b"reboot", t2)
    assert parse_wtmp(data) == {"alice": datetime(2026, 5, 1, tzinfo=UTC)}
    assert parse_wtmp(b"xx" + data) == parse_wtmp(data), "a tail read that starts mid-record is realigned"


@given(st.binary(max_size=3000))
def test_wtmp_is_total(data: bytes) -> None:
    from tenken.collectors.linux.accounts import parse_wtmp

    parse_wtmp(data)


def test_stale_account_from_wtmp_when_lastlog_is_absent(tmp_path) -> None:
    """Newer distributions have no lastlog: wtmp alone decides who is stale."""
    import json

    from clihelp import run_tenken

    root = tmp_path / "r"
    (root / "etc").mkdir(parents=True)
    (root / "var/log").mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/bash\n")
    yes = "$y$j9T$abcdefghijklmnopqrstu.$ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmno12"
    (root / "etc/shadow").write_text(f"root:!:19000::::::\nalice:{yes}:19000::::::\nbob:{yes}:19000::::::\n")
    recent = int(datetime.now(UTC).timestamp()) - 86400
    (root / "var/log/wtmp").write_bytes(_utmp(7, b"alice", recent) + _utmp(7, b"bob", recent - 400 * 86400))
    data = json.loads(run_tenken("scan", "local", "--root", str(root), "-f", "json").stdout)
    stale = [(f["status"], f["subject"]) for f in data["findings"] if f["check_id"] == "linux.accounts.stale"]
    assert stale == [("warn", "bob")]


def test_process_names_see_past_the_15_character_comm() -> None:
    """Over SSH `ps` cuts comm to 15 characters (`systemd-journal`); argv[0] still names systemd-journald."""
    from tenken.collectors.linux.procs import process_names
    from tenken.collectors.probe import Probe
    from tenken.collectors.transport.base import CommandResult, Transport

    class PsOnly(Transport):
        target = "fake"

        def run(self, argv, *, timeout=10.0, privileged=False):
            out = {"pid=,stat=,comm=": b"  1 Ss systemd\n 201 Ss systemd-journal\n 333 Z  auditd\n",
                   "pid=,args=": b"  1 /sbin/init\n 201 /lib/systemd/systemd-journald\n 333 [auditd] <defunct>\n"}[argv[2]]
            return CommandResult(tuple(argv), 0, out, b"")

        def read_file(self, path, *, privileged=False, max_bytes=0):
            raise NotImplementedError

        stat = list_dir = read_file

    names = process_names(Probe(PsOnly()))
    assert names is not None and "systemd-journald" in names and "systemd-journal" in names
    assert "auditd" not in names, "a zombie is not a running daemon"
