"""Access logs (SO-17-1, SO-17-2): root trees through the real CLI, the parsers, and the live host."""

from __future__ import annotations

from pathlib import Path

from clihelp import details, outcomes, scan_root
from hypothesis import given, settings
from hypothesis import strategies as st
from tenken.collectors.linux.logs import (
    collect_logs,
    parse_audit_rules,
    parse_auditctl_status,
    parse_ini_section,
    parse_keyvalue,
    parse_logrotate,
    parse_rsyslog,
    parse_syslog_ng,
    parse_timespan,
    rotation_for,
)
from tenken.collectors.probe import Probe
from tenken.collectors.transport.local import LocalTransport

CHECKS = ("linux.logs.access_recorded", "linux.logs.journal_persistent", "linux.logs.retention", "linux.logs.auditd",
          "linux.logs.permissions", "linux.logs.tamper_protection")


def write(root: Path, rel: str, text: str = "", *, mode: int | None = None) -> Path:
    p = root / rel.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    if mode is not None:
        p.chmod(mode)
    return p


def base(root: Path) -> Path:
    write(root, "etc/passwd", "root:x:0:0:root:/root:/bin/bash\nsyslog:x:104:110::/home/syslog:/usr/sbin/nologin\nalice:x:1000:1000::/home/alice:/bin/bash\n")
    write(root, "etc/group", "root:x:0:\nadm:x:4:syslog\nutmp:x:43:\n")
    write(root, "usr/lib/systemd/systemd-journald", "")
    write(root, "var/log/wtmp", "", mode=0o664)
    write(root, "var/log/btmp", "", mode=0o660)
    return root


RSYSLOG_GOOD = """\
module(load="imuxsock")
auth,authpriv.*                 /var/log/auth.log
*.*;auth,authpriv.none          -/var/log/syslog
*.* @@loghost.hospital.local:6514
"""


def good_tree(root: Path) -> Path:
    base(root)
    write(root, "usr/sbin/rsyslogd", "")
    write(root, "etc/rsyslog.conf", RSYSLOG_GOOD)
    write(root, "var/log/auth.log", "May  1 login\n", mode=0o640)
    write(root, "var/log/syslog", "", mode=0o640)
    write(root, "etc/logrotate.conf", "weekly\nrotate 4\ncreate\ninclude /etc/logrotate.d\n")
    write(root, "etc/logrotate.d/rsyslog", "/var/log/syslog\n/var/log/auth.log\n{\n\trotate 60\n\tweekly\n\tmissingok\n"
                                             "\tpostrotate\n\t\t/usr/lib/rsyslog/rsyslog-rotate\n\tendscript\n}\n")
    write(root, "etc/systemd/journald.conf", "[Journal]\nStorage=persistent\nMaxRetentionSec=1year\n")
    (root / "var/log/journal").mkdir(parents=True)
    write(root, "usr/sbin/auditd", "")
    write(root, "etc/systemd/system/multi-user.target.wants/auditd.service", "")
    write(root, "etc/audit/auditd.conf", "log_file = /var/log/audit/audit.log\nmax_log_file = 8\nnum_logs = 5\nmax_log_file_action = ROTATE\n")
    write(root, "etc/audit/rules.d/50-identity.rules",
          "-w /etc/passwd -p wa -k identity\n-w /etc/shadow -p wa -k identity\n-w /etc/sudoers -p wa -k scope\n"
          "-w /var/log/lastlog -p wa -k logins\n-a always,exit -F arch=b64 -S unlink -F dir=/var/log -k logdel\n-e 2\n")
    write(root, "var/log/audit/audit.log", "", mode=0o600)
    return root


def weak_tree(root: Path) -> Path:
    base(root)
    write(root, "usr/sbin/rsyslogd", "")
    write(root, "etc/rsyslog.conf", "auth,authpriv.* /var/log/auth.log\n")
    write(root, "var/log/auth.log", "May  1 login\n", mode=0o644)  # world-readable
    write(root, "etc/logrotate.conf", "weekly\nrotate 4\ninclude /etc/logrotate.d\n")
    write(root, "etc/logrotate.d/rsyslog", "/var/log/auth.log { missingok }\n")
    write(root, "etc/systemd/journald.conf", "[Journal]\n#Storage=auto\n")  # and no /var/log/journal
    return root


scan = scan_root
detail = details


def got(report: dict, checks: tuple[str, ...] = CHECKS) -> list[tuple[str, str, str | None, list[str]]]:
    return outcomes(report, checks)


def test_good_tree_logging_passes(tmp_path: Path) -> None:
    report = scan(good_tree(tmp_path / "good"))
    assert got(report) == [
        ("linux.logs.access_recorded", "pass", None, ["SO-17-1"]),
        ("linux.logs.auditd", "pass", None, ["SO-17-1", "SO-17-2"]),
        ("linux.logs.journal_persistent", "pass", None, ["SO-17-1"]),
        ("linux.logs.permissions", "pass", None, ["SO-17-2"]),
        ("linux.logs.retention", "pass", "/var/log/auth.log", ["SO-17-1"]),
        ("linux.logs.tamper_protection", "pass", None, ["SO-17-2"]),
    ]
    # rotate 60 keeps 60 rotated files plus the current one: 61 weeks
    assert "about 427 days (rotate 60 × weekly" in detail(report, "linux.logs.retention")
    tamper = detail(report, "linux.logs.tamper_protection")
    assert "loghost.hospital.local:6514" in tamper and "immutable audit rules" in tamper
    assert "Rules are immutable (-e 2)" in detail(report, "linux.logs.auditd")
    assert "8 MB × 5 files (ROTATE, oldest overwritten)" in detail(report, "linux.logs.auditd")


def test_weak_tree_world_readable_auth_log_and_volatile_journal(tmp_path: Path) -> None:
    report = scan(weak_tree(tmp_path / "weak"))
    assert got(report) == [
        ("linux.logs.access_recorded", "pass", None, ["SO-17-1"]),
        ("linux.logs.auditd", "not_applicable", None, ["SO-17-1", "SO-17-2"]),
        # the journal is volatile but auth.log is kept on disk and rotated: SO-17-1 is met there
        ("linux.logs.journal_persistent", "pass", None, ["SO-17-1"]),
        ("linux.logs.permissions", "fail", "/var/log/auth.log", ["SO-17-2"]),
        ("linux.logs.retention", "warn", "/var/log/auth.log", ["SO-17-1"]),
        ("linux.logs.tamper_protection", "warn", None, ["SO-17-2"]),
    ]
    assert "anyone can read it" in detail(report, "linux.logs.permissions")
    assert "about 35 days (rotate 4 × weekly" in detail(report, "linux.logs.retention")
    assert "volatile (Storage=auto), but login records are kept on disk in /var/log/auth.log" in detail(report, "linux.logs.journal_persistent")


def test_policy_can_make_retention_binding_and_require_auditd(tmp_path: Path) -> None:
    pol = tmp_path / "p.yaml"
    pol.write_text("logging:\n  enforce_retention: true\n  require_auditd: true\n  min_retention_days: 40\n")
    report = scan(weak_tree(tmp_path / "weak"), pol)
    assert got(report, ("linux.logs.retention", "linux.logs.auditd")) == [
        ("linux.logs.auditd", "fail", None, ["SO-17-1", "SO-17-2"]),
        ("linux.logs.retention", "fail", "/var/log/auth.log", ["SO-17-1"]),
    ]


def test_no_auth_log_no_journal_fails_access_recorded(tmp_path: Path) -> None:
    root = base(tmp_path / "bare")
    write(root, "etc/systemd/journald.conf", "[Journal]\nStorage=volatile\n")
    report = scan(root)
    assert got(report, ("linux.logs.access_recorded",)) == [("linux.logs.access_recorded", "fail", None, ["SO-17-1"])]
    assert "kept in memory only" in detail(report, "linux.logs.access_recorded")


def test_user_owned_and_world_writable_logs_fail(tmp_path: Path) -> None:
    root = good_tree(tmp_path / "r")
    (root / "var/log/syslog").chmod(0o666)
    import os

    os.chown(root / "var/log/auth.log", 1000, 1000)
    report = scan(root)
    perms = sorted((f["subject"], f["status"]) for f in report["findings"] if f["check_id"] == "linux.logs.permissions")
    assert perms == [("/var/log/auth.log", "fail"), ("/var/log/syslog", "fail")]
    text = detail(report, "linux.logs.permissions")
    assert "owned by the ordinary user alice" in text and "anyone can write to it" in text


def test_live_host_logs_collector_reads_real_files() -> None:
    facts = collect_logs(Probe(LocalTransport()))
    assert facts.processes_known is True
    import os

    for lf in facts.files:
        st = os.stat(lf.path)
        assert (lf.mode, lf.uid) == (st.st_mode & 0o7777, st.st_uid)


# -- parsers ------------------------------------------------------------------------------------------

def test_rsyslog_selectors_and_forwarding() -> None:
    auth, remote = parse_rsyslog(RSYSLOG_GOOD + 'action(type="omfwd" target="10.0.0.5" port="514" protocol="tcp")\n*.emerg :omusrmsg:*\n')
    assert auth == ["/var/log/auth.log"]  # /var/log/syslog excludes auth via auth,authpriv.none
    assert remote == ["10.0.0.5", "loghost.hospital.local:6514"]
    auth, _ = parse_rsyslog("*.info;mail.none;authpriv.none;cron.none /var/log/messages\nauthpriv.* /var/log/secure\n")
    assert auth == ["/var/log/secure"]
    auth, remote = parse_rsyslog('if $syslogfacility-text == "authpriv" then { action(type="omfile" file="/var/log/secure") }\n')
    assert (auth, remote) == (["/var/log/secure"], [])


def test_syslog_ng_destinations() -> None:
    conf = """
source s_net { network(ip(0.0.0.0) port(514)); };
destination d_auth { file("/var/log/auth.log"); };
destination d_remote { syslog("logs.example.jp" transport("tls") port(6514)); };
log { source(s_src); filter(f_auth); destination(d_auth); };
"""
    assert parse_syslog_ng(conf) == (["/var/log/auth.log"], ["logs.example.jp"])


def test_logrotate_inheritance_maxage_and_size() -> None:
    main = ("/etc/logrotate.conf", "weekly\nrotate 4\ninclude /etc/logrotate.d\n/var/log/wtmp {\n monthly\n rotate 1\n}\n")
    rhel = ("/etc/logrotate.d/rsyslog", "/var/log/cron\n/var/log/messages\n/var/log/secure\n{\n    missingok\n    sharedscripts\n"
                                         "    postrotate\n        /usr/bin/systemctl -s HUP kill rsyslog.service >/dev/null 2>&1 || true\n    endscript\n}\n")
    capped = ("/etc/logrotate.d/x", '"/var/log/auth.log" { daily\n rotate 400\n maxage 90 }\n')
    sized = ("/etc/logrotate.d/y", "/var/log/syslog {\n size 100M\n rotate 5\n}\n")
    files = [("/etc/logrotate.conf", "rotate 4\ninclude /etc/logrotate.d\n"), sized]
    assert rotation_for("/var/log/secure", [main, rhel]).retention_days == 35  # 4 rotated + the current week
    assert rotation_for("/var/log/wtmp", [main, rhel]).retention_days == 60
    assert rotation_for("/var/log/auth.log", [main, capped]).retention_days == 91  # maxage 90 plus the current day
    r = rotation_for("/var/log/syslog", files)
    assert r.size_based and r.retention_days is None
    assert rotation_for("/var/log/none", [main]) is None
    _glob, blocks = parse_logrotate("/var/log/*.log {\nrotate abc\ndaily\n}\n")
    assert blocks[0].settings == {"period": "daily"}


def test_audit_journald_and_timespans() -> None:
    r = parse_audit_rules("-w /etc/passwd -p wa\n-a always,exit -F path=/etc/shadow -F perm=wa\n-e 2\n")
    assert r.watched == ["/etc/passwd", "/etc/shadow"] and r.immutable
    assert parse_auditctl_status("enabled 2\nfailure 1\npid 123\n") == 2
    assert parse_keyvalue("max_log_file = 8\n# x = y\nNUM_LOGS=5\n") == {"max_log_file": "8", "num_logs": "5"}
    assert parse_ini_section("[Journal]\nStorage=volatile\n[Other]\nStorage=x\n[Journal]\nSeal=yes\n", "Journal") == {"Storage": "volatile", "Seal": "yes"}
    assert parse_timespan("1year") == 31557600
    assert parse_timespan("6month 2w") == 6 * 2629800 + 2 * 604800
    assert parse_timespan("3600") == 3600 and parse_timespan("5m") == 300 and parse_timespan("1M") == 2629800
    assert parse_timespan("soon") is None and parse_timespan("") is None


text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=600)
confish = st.lists(st.sampled_from(["/var/log/auth.log", "{", "}", "rotate", " 4", "weekly", "maxage", " 9", "\n", "postrotate",
                                    "endscript", "*.*", "@@", "auth,authpriv.*", ";", "-w", "-e 2", "[Journal]", "Storage=",
                                    "=", "1y", "destination d {", 'file("/a")', "tcp(", '"h"', "action(", 'type="omfwd"']),
                   max_size=50).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(text, confish))
def test_log_parsers_are_total(s: str) -> None:
    parse_keyvalue(s)
    parse_audit_rules(s)
    parse_auditctl_status(s)
    parse_ini_section(s, "Journal")
    v = parse_timespan(s)
    assert v is None or v >= 0
    parse_rsyslog(s)
    parse_syslog_ng(s)
    parse_logrotate(s)
    r = rotation_for("/var/log/auth.log", [("/etc/logrotate.conf", s), ("/etc/logrotate.d/x", s)])
    assert r is None or r.retention_days is None or r.retention_days >= 0
