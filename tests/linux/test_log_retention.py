"""Log retention counted the way logrotate keeps files (SO-17-1, checks/rules/logs.py): `rotate N` is N
rotated files plus the current one; directives above an `include` are the included files' defaults and
those below it are not; a stanza's own directives override the global ones. Configuration texts are the
distributions' shipped files (Debian 12 logrotate 3.21 and rsyslog 8.2302 packages; RHEL 9 logrotate
3.18 and rsyslog 8.2102 packages)."""

from __future__ import annotations

from pathlib import Path

import pytest
from clihelp import details, outcomes, scan_root
from tenken.collectors.linux.logs import expand_includes, rotation_for, split_includes

DEBIAN_LOGROTATE_CONF = """\
# see "man logrotate" for details

# global options do not affect preceding include directives

# rotate log files weekly
weekly

# keep 4 weeks worth of backlogs
rotate 4

# create new (empty) log files after rotating old ones
create

# use date as a suffix of the rotated file
#dateext

# uncomment this if you want your log files compressed
#compress

# packages drop log rotation information into this directory
include /etc/logrotate.d

# system-specific logs may also be configured here.
"""

DEBIAN_RSYSLOG = """\
/var/log/syslog
/var/log/mail.log
/var/log/kern.log
/var/log/auth.log
/var/log/user.log
/var/log/cron.log
{
\trotate 4
\tweekly
\tmissingok
\tnotifempty
\tcompress
\tdelaycompress
\tsharedscripts
\tpostrotate
\t\t/usr/lib/rsyslog/rsyslog-rotate
\tendscript
}
"""

RHEL_RSYSLOG = """\
/var/log/cron
/var/log/maillog
/var/log/messages
/var/log/secure
/var/log/spooler
{
    missingok
    sharedscripts
    postrotate
        /usr/bin/systemctl -s HUP kill rsyslog.service >/dev/null 2>&1 || true
    endscript
}
"""


def _read(files: dict[str, str]):
    def read(arg: str) -> list[tuple[str, str]]:
        inside = sorted(k for k in files if k.startswith(arg.rstrip("/") + "/"))
        return [(k, files[k]) for k in inside] if inside else ([(arg, files[arg])] if arg in files else [])
    return read


def days(path: str, main: str, files: dict[str, str]) -> float | None:
    r = rotation_for(path, expand_includes("/etc/logrotate.conf", main, _read(files)))
    assert r is not None
    return r.retention_days


def test_debian_default_keeps_five_weeks_not_four() -> None:
    assert days("/var/log/auth.log", DEBIAN_LOGROTATE_CONF, {"/etc/logrotate.d/rsyslog": DEBIAN_RSYSLOG}) == 35


def test_rhel_stanza_inherits_the_global_rotate_and_period() -> None:
    assert days("/var/log/secure", DEBIAN_LOGROTATE_CONF, {"/etc/logrotate.d/rsyslog": RHEL_RSYSLOG}) == 35


def test_global_directives_below_the_include_do_not_reach_included_files() -> None:
    main = DEBIAN_LOGROTATE_CONF + "rotate 99\nmonthly\n/var/log/wtmp {\n    missingok\n}\n"
    files = {"/etc/logrotate.d/rsyslog": RHEL_RSYSLOG}
    assert days("/var/log/secure", main, files) == 35  # weekly, rotate 4 as read before the include
    assert days("/var/log/wtmp", main, files) == 100 * 30  # the stanza after them gets monthly, rotate 99


@pytest.mark.parametrize(("stanza", "expected"), [
    ("daily\n    rotate 30", 31),
    ("monthly\n    rotate 12", 13 * 30),
    ("weekly\n    rotate 52", 53 * 7),  # the per-file stanza overrides the global rotate 4
    ("daily\n    rotate 400\n    maxage 365", 366),  # maxage deletes rotated files older than a year
    ("weekly\n    rotate 4\n    minsize 1M", 35),  # never before the period: the weekly count holds
    ("size 100M\n    rotate 5", None),  # volume decides
])
def test_periods_and_overrides(stanza: str, expected: float | None) -> None:
    text = f"/var/log/auth.log {{\n    {stanza}\n    missingok\n}}\n"
    assert days("/var/log/auth.log", DEBIAN_LOGROTATE_CONF, {"/etc/logrotate.d/auth": text}) == expected


def test_rotate_minus_one_keeps_everything_and_top_level_includes_are_found() -> None:
    r = rotation_for("/var/log/auth.log", [("/etc/logrotate.d/a", "/var/log/auth.log {\n weekly\n rotate -1\n}\n")])
    assert r is not None and r.unlimited and r.retention_days is None
    parts = split_includes("weekly\n/var/log/x {\n  postrotate\n    include me\n  endscript\n}\ninclude /etc/logrotate.d\nrotate 2\n")
    assert [p for p in parts if isinstance(p, tuple)] == [("/etc/logrotate.d",)]


def _tree(root: Path, *, journal: str, rsyslog_rotate: str = "rotate 52") -> Path:
    def w(rel: str, text: str = "", mode: int = 0o640) -> None:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        p.chmod(mode)
    w("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n", 0o644)
    w("etc/group", "root:x:0:\nadm:x:4:\n", 0o644)
    w("usr/lib/systemd/systemd-journald", "", 0o755)
    w("usr/sbin/rsyslogd", "", 0o755)
    w("etc/rsyslog.conf", "auth,authpriv.*\t\t\t/var/log/auth.log\n*.*;auth,authpriv.none\t\t-/var/log/syslog\n", 0o644)
    w("var/log/auth.log", "Dec  3 09:00:01 emr sshd[811]: Accepted publickey for nurse1\n")
    w("etc/logrotate.conf", DEBIAN_LOGROTATE_CONF, 0o644)
    w("etc/logrotate.d/rsyslog", DEBIAN_RSYSLOG.replace("\trotate 4", f"\t{rsyslog_rotate}"), 0o644)
    w("etc/logrotate.d/rsyslog.dpkg-old", DEBIAN_RSYSLOG.replace("\trotate 4", "\trotate 1"), 0o644)  # taboo: never read
    w("etc/systemd/journald.conf", f"[Journal]\n{journal}\n", 0o644)
    return root


def test_volatile_journal_with_rotated_auth_log_on_disk_meets_so_17_1(tmp_path: Path) -> None:
    report = scan_root(_tree(tmp_path / "r", journal="Storage=volatile"))
    got = outcomes(report, ("linux.logs.access_recorded", "linux.logs.journal_persistent", "linux.logs.retention"))
    assert got == [
        ("linux.logs.access_recorded", "pass", None, ["SO-17-1"]),
        ("linux.logs.journal_persistent", "pass", None, ["SO-17-1"]),
        ("linux.logs.retention", "pass", "/var/log/auth.log", ["SO-17-1"]),
    ]
    assert "about 371 days (rotate 52 × weekly, /etc/logrotate.d/rsyslog" in details(report, "linux.logs.retention")


def test_rotate_51_weekly_is_short_of_a_year_and_journal_alone_still_fails(tmp_path: Path) -> None:
    root = _tree(tmp_path / "r", journal="#Storage=auto", rsyslog_rotate="rotate 50")
    report = scan_root(root)
    assert outcomes(report, ("linux.logs.retention",)) == [("linux.logs.retention", "warn", "/var/log/auth.log", ["SO-17-1"])]
    assert "about 357 days" in details(report, "linux.logs.retention")
    (root / "var/log/auth.log").unlink()
    report = scan_root(root)
    assert outcomes(report, ("linux.logs.journal_persistent",)) == [("linux.logs.journal_persistent", "fail", None, ["SO-17-1"])]
