"""Whether a RHEL-family host needs a reboot, by the rule of `needs-restarting -r`, without running dnf.

`needs-restarting -r` (dnf-plugins-core, plugins/needs_restarting.py) exits 1 when an installed package
named in its NEED_REBOOT list, or in a file of /etc/dnf/plugins/needs-restarting.d/*.conf (one name per
line), was installed after the boot. The command starts dnf and loads its package sack on the target for
that, so tenken applies the same rule to the install times
`rpm -q` prints for those few names, and the boot time the plugin uses: the later of /proc/1's mtime (the
first process's start) and the kernel's boot time (the plugin takes now - /proc/uptime; /proc/stat's `btime`
is the same instant in the target's own clock, with no second clock involved). Inside a container sharing
the host's kernel the kernel's boot time is the host's, which is why the later of the two counts.
"""

from __future__ import annotations

#: dnf-plugins-core plugins/needs_restarting.py NEED_REBOOT (upstream list, "mostly taken from
#: https://access.redhat.com/solutions/27943").
NEED_REBOOT = ("kernel", "kernel-core", "kernel-rt", "glibc", "linux-firmware", "systemd", "dbus", "dbus-broker",
               "dbus-daemon")
EXTRA_DIR = "/etc/dnf/plugins/needs-restarting.d"
INSTALL_TIMES_QF = r"%{NAME}\t%{INSTALLTIME}\n"


def rpm_query(names: list[str]) -> list[str]:
    """argv of the query: one line per installed package of those names (several for installonly kernels)."""
    return ["rpm", "-q", "--qf", INSTALL_TIMES_QF, "--", *names]


def parse_install_times(text: str) -> dict[str, int]:
    """{name: newest install time} from INSTALL_TIMES_QF lines; `package X is not installed` lines are skipped."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        name, sep, when = line.partition("\t")
        if sep and name and when.strip().isdecimal():
            out[name] = max(out.get(name, 0), int(when))
    return out


def parse_extra_names(text: str) -> list[str]:
    """A needs-restarting.d/*.conf file: one package name per line (the plugin takes each stripped line)."""
    return [n for line in text.splitlines() if (n := line.strip()) and not n.startswith("#")]


def parse_btime(proc_stat: str) -> int | None:
    """The kernel's boot time (epoch seconds) from /proc/stat's `btime` line."""
    for line in proc_stat.splitlines():
        key, _, value = line.partition(" ")
        if key == "btime" and value.strip().isdecimal():
            return int(value)
    return None


def boot_time(proc1_mtime: float | None, btime: int | None) -> int | None:
    """The plugin's boot time: the later of the two sources that are known."""
    known = [int(t) for t in (proc1_mtime, btime) if t is not None]
    return max(known) if known else None


def updated_since_boot(times: dict[str, int], boot: int, names: list[str]) -> list[str]:
    """The named packages installed after `boot`: non-empty means `needs-restarting -r` would ask for a reboot."""
    return sorted(n for n in set(names) if times.get(n, 0) > boot)
