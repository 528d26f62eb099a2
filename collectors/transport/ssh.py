"""Remote Linux hosts over SSH (paramiko): strict host keys, key authentication only, few round trips.

Rules this module keeps, because an audit tool that weakens them would itself be a finding:
- Host keys are checked against known_hosts, never added automatically: an unknown key is HostKeyUnknown
  (review it with `tenken hosts trust`), a different key is HostKeyChanged (possible MITM). The jump host
  follows the same rules.
- Keys only (an identity file, the default ~/.ssh/id_* files, or ssh-agent). There is no password path.
- Every step has a deadline: the TCP connect, banner, key exchange and authentication share one connect
  deadline; each command has its own, after which the channel is closed and the remote `timeout` wrapper
  kills the process. paramiko/socket exceptions are mapped here, at the edge, to the TransportError tree.
- One connection and one long-lived /bin/sh per host for the whole scan: commands are written to its
  stdin and framed by random markers, so a command costs a fork, not a new SSH session plus the login
  shell's rc files. At connect, a single batch (ssh_batch.HELPER) identifies the OS and reads the files
  and config directories audits usually need; later reads, listings and stats are served from that
  snapshot or fetched in batches (a miss also lists its parent directory, so absent siblings cost
  nothing), and root-only files are read with one `sudo -n` batch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import logging
import math
import posixpath
import re
import secrets
import select
import shlex
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import paramiko
from tenken.collectors.transport import ssh_batch, ssh_plan
from tenken.collectors.transport.base import (
    AccessDenied,
    AuthFailed,
    CommandNotFound,
    CommandResult,
    FileMissing,
    FileStat,
    NotRegularFile,
    OsFamily,
    TimedOut,
    Transport,
    TransportError,
    Unreachable,
    Unsupported,
)
from tenken.collectors.transport.ssh_known_hosts import KnownHosts, fingerprint

log = logging.getLogger(__name__)

DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"
DEFAULT_IDENTITIES = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")
_REMOTE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_NOT_FOUND = "tenken: command not found:"
_NO_SUDO = "tenken: sudo is not installed"
# `sudo -n` refusing outright: the login user cannot become root without a password (or at all).
_SUDO_REFUSED = re.compile(
    r"sudo: (a password is required|a terminal is required|.*is not in the sudoers file|.*may not run sudo)", re.I
)
_SUDO_CMD_REFUSED = re.compile(r"sudo: .*(not allowed to execute|Sorry, user)", re.I)

#: Largest file kept in the per-scan cache once read (bigger ones are fetched again if asked for twice).
HOLD_MAX = 1024 * 1024
#: Files most audits read, fetched in the connect batch (a missing one costs nothing later either).
PREFETCH_FILES: tuple[str, ...] = (
    "/etc/os-release", "/usr/lib/os-release", "/etc/redhat-release", "/etc/debian_version", "/etc/hostname",
    "/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow", "/etc/login.defs", "/etc/sudoers",
    "/etc/default/useradd", "/etc/security/pwquality.conf", "/etc/security/faillock.conf",
    "/etc/security/pwhistory.conf", "/etc/security/limits.conf", "/etc/ssh/sshd_config", "/etc/fstab",
    "/etc/crypttab", "/proc/mounts", "/proc/self/mountinfo", "/proc/cmdline", "/etc/chrony.conf",
    "/etc/chrony/chrony.conf", "/etc/ntp.conf", "/etc/systemd/timesyncd.conf", "/etc/rsyslog.conf",
    "/etc/systemd/journald.conf", "/etc/audit/auditd.conf", "/etc/audit/audit.rules", "/etc/logrotate.conf",
    "/etc/sysctl.conf", "/etc/hosts.allow", "/etc/hosts.deny", "/etc/selinux/config", "/etc/issue",
    "/etc/issue.net", "/etc/motd", "/etc/default/grub", "/etc/rsnapshot.conf", "/etc/aide.conf",
    "/etc/aide/aide.conf", "/etc/dnf/automatic.conf", "/etc/yum/yum-cron.conf", "/etc/profile", "/etc/bash.bashrc",
    "/etc/bashrc", "/etc/dconf/db/local.d/00-screensaver",
)
#: Directories listed, and their small files read, in the same batch.
PREFETCH_DIRS: tuple[str, ...] = (
    "/etc/sudoers.d", "/etc/pam.d", "/etc/security/pwquality.conf.d", "/etc/ssh/sshd_config.d", "/etc/rsyslog.d",
    "/etc/audit/rules.d", "/etc/sysctl.d", "/etc/systemd/journald.conf.d", "/etc/systemd/timesyncd.conf.d",
    "/etc/chrony/conf.d", "/etc/chrony/sources.d", "/etc/logrotate.d", "/etc/cron.d", "/etc/apt/apt.conf.d",
    "/etc/profile.d", "/etc/apt/preferences.d",
)


@dataclass(frozen=True)
class Destination:
    user: str | None
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.user + '@' if self.user else ''}{host}:{self.port}"


def parse_destination(text: str, *, default_port: int = 22) -> Destination:
    """`[user@]host[:port]`, `[user@][v6addr]:port` or a bare IPv6 address. Raises ValueError."""
    text = text.strip()
    user, sep, rest = text.rpartition("@")
    if not sep:
        user, rest = "", text
    if sep and not user:
        raise ValueError(f"{text!r}: empty user name before '@'")
    port = default_port
    if rest.startswith("["):
        host, close, tail = rest[1:].partition("]")
        if not close:
            raise ValueError(f"{text!r}: missing ']' after an IPv6 address")
        if tail:
            if not tail.startswith(":"):
                raise ValueError(f"{text!r}: expected ':port' after ']'")
            port = _port(tail[1:], text)
    elif rest.count(":") == 1:
        host, _, p = rest.partition(":")
        port = _port(p, text)
    else:
        host = rest  # a name, an IPv4 address, or a bare IPv6 address (no port)
    if not host or any(c.isspace() for c in host) or host.startswith("-"):
        raise ValueError(f"{text!r}: not a host name or address")
    return Destination(user or None, host, port)


def _port(p: str, text: str) -> int:
    if not p.isdigit() or not 1 <= int(p) <= 65535:
        raise ValueError(f"{text!r}: port must be a number from 1 to 65535")
    return int(p)


def build_command(argv: Sequence[str], *, timeout: float, sudo: bool, kill_at: int | None = None) -> str:
    """The remote shell line: C locale, fixed PATH, a not-found marker, a kill-after timeout, `sudo -n`.

    `kill_at`: seconds after which the remote `timeout` stops it (default: just after the client gives up).
    """
    if not argv:
        raise ValueError("empty command")
    first = shlex.quote(argv[0])
    inner = shlex.join(argv)
    if sudo:
        inner = f"sudo -n -- env LC_ALL=C LANG=C {inner}"
    # the client gives up at `timeout`; the remote wrapper kills the process group shortly after
    kill = kill_at if kill_at is not None else math.ceil(timeout) + 2
    parts = [
        f"LC_ALL=C LANG=C PATH={_REMOTE_PATH}; export LC_ALL LANG PATH",
        f"command -v {first} >/dev/null 2>&1 || {{ echo '{_NOT_FOUND}' {first} >&2; exit 127; }}",
    ]
    if sudo:
        parts.append(f"command -v sudo >/dev/null 2>&1 || {{ echo '{_NO_SUDO}' >&2; exit 126; }}")
    parts.append(
        f"if command -v timeout >/dev/null 2>&1; then exec timeout -k 2 {kill} {inner}; else exec {inner}; fi"
    )
    return "; ".join(parts)


@dataclass
class _Entry:
    """A cached read: status as the helper reported it, content, and the byte limit it was read with."""

    status: str
    data: bytes = b""
    limit: int = 0
    message: str | None = None

    def covers(self, max_bytes: int) -> bool:
        return self.status != "ok" or len(self.data) < self.limit or self.limit >= max_bytes


class PlannedOnly(Unsupported):
    """Raised to a collector during the dry pass that learns a scan's requests (`SSHTransport.planning`)."""


def _missing(path: str, why: str = "not found") -> FileMissing:
    return FileMissing(f"{path}: {why}")


class SSHTransport(Transport):
    """One SSH connection to one Linux host. Construct (no I/O), then `connect()`; `close()` from any thread."""

    is_local = False
    can_run = True

    def __init__(
        self,
        host: str,
        *,
        port: int = 22,
        username: str | None = None,
        identity: str | None = None,
        passphrase: str | None = None,
        known_hosts: str | None = None,
        jump: Destination | None = None,
        use_agent: bool = True,
        connect_timeout: float = 10.0,
        command_timeout: float = 30.0,
        label: str | None = None,
        prefetch: bool = True,
        batch: bool = True,
        compress: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username or getpass.getuser()
        self.identity = identity
        self._passphrase = passphrase
        self.known_hosts_path = str(Path(known_hosts or DEFAULT_KNOWN_HOSTS).expanduser())
        self.jump = jump
        self.use_agent = use_agent
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.prefetch_common = prefetch
        # the one-batch path (planning/prefetch); False: every request on demand (the parity tests compare both)
        self.batch = batch
        # off by default, as in OpenSSH: zlib costs the target CPU; worth it only on slow links
        self.compress = compress
        shown = f"[{label or host}]" if ":" in (label or host) else (label or host)
        self.target = f"{self.username}@{shown}:{port}"
        self.os = OsFamily.UNKNOWN
        self.uname = ""
        self._is_root = False
        self._sudo: bool | None = None  # None: not tried yet
        self._sudo_refusal = ""
        self._lock = threading.Lock()
        self._closed = False
        self._transports: list[paramiko.Transport] = []
        self._t: paramiko.Transport | None = None
        self._shell: paramiko.Channel | None = None
        self._keys: list[tuple[str, paramiko.PKey]] | None = None
        self._files: dict[str, _Entry] = {}
        self._priv: dict[str, _Entry] = {}
        self._dirs: dict[str, _Entry] = {}
        self._stats: dict[str, FileStat] = {}
        self._dir_stats_done: set[str] = set()
        self._stat_errors: dict[str, str] = {}
        #: commands and batches sent through the shell (the bench and TargetInfo.round_trips read it)
        self.round_trips = 0
        #: how this scan's evidence was fetched (TargetInfo.collection), set by prefetch()
        self.collection: str | None = None
        #: dry passes agent.scan._prefetch may run: the second learns requests that depend on the first's answers
        self.planning_rounds = 2
        self._plan: ssh_plan.Plan | None = None
        self._planned: ssh_plan.Plan | None = None
        self._batches = 0
        self._batched_files = 0
        self._batched_cmds = 0
        self._cmds: dict[str, tuple[int, bytes, bytes] | str] = {}

    # -- connection ---------------------------------------------------------------------------
    def connect(self) -> SSHTransport:
        deadline = time.monotonic() + self.connect_timeout
        known = KnownHosts.load(self.known_hosts_path)
        sock = self._jump_channel(known, deadline)
        self._t = self._handshake(self.host, self.port, self.username, known, deadline, sock)
        self._hello()
        return self

    def _jump_channel(self, known: KnownHosts, deadline: float) -> paramiko.Channel | None:
        sock: paramiko.Channel | None = None
        if self.jump is not None:
            juser = self.jump.user or self.username
            jt = self._handshake(self.jump.host, self.jump.port, juser, known, deadline, None, role="jump host ")
            try:
                sock = jt.open_channel(
                    "direct-tcpip", (self.host, self.port), ("127.0.0.1", 0), timeout=self._left(deadline, "jump")
                )
            except paramiko.ChannelException as exc:
                raise Unreachable(
                    f"jump host {self.jump} could not open a connection to {self.host}:{self.port}: {exc.text}"
                ) from exc
            except (paramiko.SSHException, EOFError, OSError) as exc:
                if time.monotonic() >= deadline:
                    raise TimedOut(f"jump host {self.jump}: forwarding to {self.host}:{self.port} timed out") from exc
                raise Unreachable(f"jump host {self.jump}: forwarding to {self.host}:{self.port} failed: {exc}") from exc
        return sock

    def _left(self, deadline: float, what: str) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimedOut(f"{self.host}:{self.port}: connection deadline of {self.connect_timeout:g} s passed ({what})")
        return left

    def _handshake(
        self,
        host: str,
        port: int,
        user: str,
        known: KnownHosts,
        deadline: float,
        sock: socket.socket | paramiko.Channel | None,
        role: str = "",
    ) -> paramiko.Transport:
        t = self._negotiate(host, port, known.known_types(host, port), deadline, sock, role)
        where = f"{role}{host}:{port}"
        key = t.get_remote_server_key()
        try:
            known.verify(host, port, key.get_name(), key.asbytes())
        except TransportError:
            t.close()
            raise
        self._authenticate(t, user, where, deadline)
        t.set_keepalive(30)
        return t

    def _negotiate(
        self,
        host: str,
        port: int,
        known_types: list[str],
        deadline: float,
        sock: socket.socket | paramiko.Channel | None,
        role: str = "",
    ) -> paramiko.Transport:
        """TCP connect (unless tunnelled), banner and key exchange; the host key is not judged here."""
        where = f"{role}{host}:{port}"
        if self._closed:
            raise Unreachable(f"{where}: scan cancelled")
        if sock is None:
            try:
                sock = socket.create_connection((host, port), timeout=self._left(deadline, "TCP connect"))
            except TimeoutError as exc:
                raise TimedOut(f"{where}: TCP connect timed out after {self.connect_timeout:g} s") from exc
            except ConnectionRefusedError as exc:
                raise Unreachable(f"{where}: connection refused (no SSH server listening)") from exc
            except socket.gaierror as exc:
                raise Unreachable(f"{where}: cannot resolve host name ({exc.strerror})") from exc
            except OSError as exc:
                raise Unreachable(f"{where}: {exc.strerror or exc}") from exc
        t = paramiko.Transport(sock)
        self._transports.append(t)
        if self._closed:  # close() ran while we were connecting
            t.close()
            raise Unreachable(f"{where}: scan cancelled")
        left = self._left(deadline, "banner")
        t.banner_timeout = left
        t.handshake_timeout = left
        t.use_compression(self.compress)
        self._prefer_known_key_types(t, known_types)
        done = threading.Event()
        try:
            t.start_client(event=done)
        except (paramiko.SSHException, OSError) as exc:
            t.close()
            raise Unreachable(f"{where}: SSH negotiation failed: {exc}") from exc
        done.wait(max(0.0, deadline - time.monotonic()))
        if not done.is_set():
            t.close()
            raise TimedOut(
                f"{where}: no SSH banner or key exchange within {self.connect_timeout:g} s (connect timeout)"
            )
        if not t.is_active():
            exc = t.get_exception()
            t.close()
            if time.monotonic() >= deadline - 0.05 or "banner" in str(exc).lower():
                raise TimedOut(f"{where}: SSH banner not received within {self.connect_timeout:g} s ({exc})")
            raise Unreachable(f"{where}: SSH negotiation failed: {exc or 'connection closed'}")
        return t

    def fetch_host_key(self) -> tuple[str, bytes]:
        """The target's host key (type, blob) without logging in: what `tenken hosts trust` shows.

        A jump host, if any, is still verified against known_hosts and logged in to, as in a scan.
        """
        deadline = time.monotonic() + self.connect_timeout
        known = KnownHosts.load(self.known_hosts_path)
        sock = self._jump_channel(known, deadline)
        t = self._negotiate(self.host, self.port, known.known_types(self.host, self.port), deadline, sock)
        try:
            key = t.get_remote_server_key()
            return key.get_name(), key.asbytes()
        finally:
            self.close()

    @staticmethod
    def _prefer_known_key_types(t: paramiko.Transport, types: list[str]) -> None:
        """Ask for a key type already recorded, so a host with several keys is checked against a known one."""
        if not types:
            return
        opts = t.get_security_options()
        offered = list(opts.key_types)
        wanted: list[str] = []
        for kt in types:
            family = ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] if kt == "ssh-rsa" else [kt]
            wanted += [k for k in family if k in offered and k not in wanted]
        if wanted:
            opts.key_types = wanted + [k for k in offered if k not in wanted]

    def _pass_bytes(self) -> bytes | None:
        return self._passphrase.encode("utf-8") if self._passphrase is not None else None

    def _load_keys(self) -> list[tuple[str, paramiko.PKey]]:
        if self._keys is not None:
            return self._keys
        keys: list[tuple[str, paramiko.PKey]] = []
        if self.identity:
            path = Path(self.identity).expanduser()
            try:
                keys.append((f"key {path}", paramiko.PKey.from_path(path, password=self._pass_bytes())))
            except FileNotFoundError as exc:
                raise AuthFailed(f"identity file {path} not found") from exc
            except TypeError as exc:  # cryptography: "Key is password-protected, but password was not provided."
                raise AuthFailed(
                    f"identity file {path} is passphrase-protected: give its passphrase as a reference "
                    "(--passphrase env:VAR or `passphrase:` in the inventory)"
                ) from exc
            except paramiko.PasswordRequiredException as exc:
                raise AuthFailed(
                    f"identity file {path} is passphrase-protected: give its passphrase as a reference "
                    "(--passphrase env:VAR or `passphrase:` in the inventory)"
                ) from exc
            except (paramiko.SSHException, ValueError, OSError) as exc:
                raise AuthFailed(f"cannot load identity file {path}: {exc} (wrong passphrase?)") from exc
        else:
            for cand in DEFAULT_IDENTITIES:
                path = Path(cand).expanduser()
                if path.is_file():
                    with contextlib.suppress(paramiko.SSHException, ValueError, TypeError, OSError):
                        keys.append((f"key {path}", paramiko.PKey.from_path(path, password=self._pass_bytes())))
        if self.use_agent:
            try:
                agent = paramiko.Agent()
                keys += [(f"agent key {k.get_name()}", k) for k in agent.get_keys()]
            except (paramiko.SSHException, OSError) as exc:
                log.debug("ssh-agent unavailable: %s", exc)
        self._keys = keys
        return keys

    def _authenticate(self, t: paramiko.Transport, user: str, where: str, deadline: float) -> None:
        keys = self._load_keys()
        if not keys:
            t.close()
            raise AuthFailed(
                f"{where}: no SSH key to log in with: give --identity KEY or start an ssh-agent "
                "(password authentication is not supported)"
            )
        tried: list[str] = []
        for label, key in keys:
            try:
                t.auth_timeout = self._left(deadline, "authentication")
                t.auth_publickey(user, key)
            except paramiko.BadAuthenticationType as exc:
                t.close()
                raise AuthFailed(f"{where}: the server does not accept public keys (offers {exc.allowed_types})") from exc
            except paramiko.AuthenticationException as exc:
                if "timeout" in str(exc).lower() or time.monotonic() >= deadline:
                    t.close()
                    raise TimedOut(f"{where}: authentication did not finish within {self.connect_timeout:g} s") from exc
                tried.append(f"{label} {fingerprint(key.asbytes())}")
                continue
            except TimedOut:
                t.close()
                raise
            except (paramiko.SSHException, EOFError, OSError) as exc:
                t.close()
                raise Unreachable(f"{where}: connection lost during authentication: {exc}") from exc
            if t.is_authenticated():
                return
            tried.append(label)
        t.close()
        raise AuthFailed(f"{where}: public-key authentication as {user!r} failed (tried: {'; '.join(tried)})")

    def close(self) -> None:
        """Safe from any thread: unblocks a worker stuck in a read (the fleet deadline relies on it)."""
        self._closed = True
        for t in reversed(self._transports):
            with contextlib.suppress(Exception):
                t.close()
        self._files.clear()
        self._priv.clear()
        self._dirs.clear()
        self._stats.clear()
        self._cmds.clear()

    # -- commands ------------------------------------------------------------------------------
    def _open_shell(self, t: paramiko.Transport, timeout: float) -> paramiko.Channel:
        """One long-lived /bin/sh per connection: commands go down its stdin, framed by random markers.

        A new SSH session per command would pay sshd's session setup and the login shell's rc files
        (a slow ~/.bashrc costs half a second) every time; through one shell a command costs a fork.
        `exec /bin/sh` is understood by any login shell, so csh or fish users work too.
        """
        try:
            chan = t.open_session(timeout=timeout)
            chan.exec_command("exec /bin/sh")
            chan.sendall(f"LC_ALL=C LANG=C PATH={_REMOTE_PATH}; export LC_ALL LANG PATH; unset HISTFILE\n".encode())
        except paramiko.SSHException as exc:
            if not t.is_active():
                raise Unreachable(f"{self.target}: connection lost ({exc})") from exc
            raise TimedOut(f"{self.target}: could not open an SSH channel within {timeout:g} s ({exc})") from exc
        except (EOFError, OSError) as exc:
            raise Unreachable(f"{self.target}: connection lost ({exc})") from exc
        return chan

    def _drop_shell(self) -> None:
        chan, self._shell = self._shell, None
        if chan is not None:
            with contextlib.suppress(Exception):
                chan.close()

    def _exec(self, command: str, timeout: float, what: str) -> tuple[int, bytes, bytes]:
        """Run a POSIX sh command line in the persistent shell; (exit code, stdout, stderr)."""
        t = self._t
        if self._closed or t is None or not t.is_active():
            raise Unreachable(f"{self.target}: connection closed")
        deadline = time.monotonic() + timeout
        self.round_trips += 1
        if self._shell is None or self._shell.closed or self._shell.eof_received:
            self._drop_shell()
            self._shell = self._open_shell(t, timeout)
        chan = self._shell
        marker = secrets.token_hex(16).encode()
        out_end = b"\n" + marker + b" "
        err_end = b"\n" + marker + b"\n"
        # the subshell isolates `exit` and `exec`; stdin is /dev/null so a command cannot eat the stream
        script = (
            f"( {command}\n) </dev/null; printf '\\n%s %d\\n' {marker.decode()} $?; "
            f"printf '\\n%s\\n' {marker.decode()} >&2\n"
        )
        out, err = bytearray(), bytearray()
        code: int | None = None
        err_done = False
        scanned = 0
        try:
            chan.sendall(script.encode("utf-8", "surrogateescape"))
            fd = chan.fileno()
            while True:
                while chan.recv_ready():
                    out += chan.recv(1 << 16)
                while chan.recv_stderr_ready():
                    err += chan.recv_stderr(1 << 16)
                if code is None:
                    at = out.find(out_end, scanned)
                    if at < 0:
                        scanned = max(0, len(out) - len(out_end))  # the marker may straddle two reads
                    else:
                        scanned = at
                        tail = out[at + len(out_end):]
                        if tail.endswith(b"\n") and tail[:-1].isdigit():
                            code = int(tail[:-1])
                            del out[at:]
                if not err_done and err.endswith(err_end):
                    err_done = True
                    del err[-len(err_end):]
                if code is not None and err_done:
                    break
                if chan.eof_received or chan.closed:
                    if self._closed or not t.is_active():
                        raise Unreachable(f"{self.target}: connection lost during {what}")
                    self._drop_shell()
                    raise TransportError(f"{what}: the remote shell exited ({bytes(err[-200:]).decode('utf-8', 'replace').strip()})")
                left = deadline - time.monotonic()
                if left <= 0:
                    # the shell is busy with the hung command: abandon it (the remote `timeout` kills it)
                    self._drop_shell()
                    raise TimedOut(f"{what} did not finish within {timeout:g} s")
                select.select([fd], [], [], min(left, 1.0))
        except (TimedOut, Unreachable, TransportError):
            raise
        except (paramiko.SSHException, EOFError, OSError) as exc:
            self._drop_shell()
            if self._closed or not t.is_active():
                raise Unreachable(f"{self.target}: connection lost during {what}") from exc
            raise TransportError(f"{what}: {exc}") from exc
        return code, bytes(out), bytes(err)

    def _need_root(self) -> bool:
        return not self._is_root

    def run(self, argv: Sequence[str], *, timeout: float = 10.0, privileged: bool = False) -> CommandResult:
        sudo = privileged and self._need_root()
        if sudo and self._sudo is False:
            raise AccessDenied(f"{argv[0]}: needs root: {self._sudo_refusal}")
        line = build_command(argv, timeout=timeout, sudo=sudo)
        got = self._cmds.get(line)
        if self._plan is not None and got is None:
            self._plan.add_command(line, tuple(argv), timeout, sudo)
            raise PlannedOnly(f"{self.target}: planning pass")
        if got == "timeout":
            raise TimedOut(f"`{argv[0]}` did not finish within {timeout:g} s")
        if isinstance(got, tuple):
            code, out, err = got
        else:
            code, out, err = self._exec(line, timeout, f"`{argv[0]}`")
        text = err.decode("utf-8", "replace")
        if code == 127 and _NOT_FOUND in text:
            raise CommandNotFound(f"command not found: {argv[0]}")
        if sudo:
            if code == 126 and _NO_SUDO in text:
                self._note_sudo_refused("sudo is not installed on the target")
                raise AccessDenied(f"{argv[0]}: needs root: sudo is not installed on {self.target}")
            m = _SUDO_REFUSED.search(text)
            if code == 1 and m:
                self._note_sudo_refused(m.group(0))
                raise AccessDenied(f"{argv[0]}: needs root: `sudo -n` refused ({m.group(0)})")
            m = _SUDO_CMD_REFUSED.search(text)
            if code == 1 and m:
                raise AccessDenied(f"{argv[0]}: needs root: `sudo -n` does not allow it ({m.group(0)})")
            self._sudo = True
        return CommandResult(argv=tuple(argv), exit_code=code, stdout=out, stderr=err)

    def _note_sudo_refused(self, why: str) -> None:
        self._sudo = False
        self._sudo_refusal = f"`sudo -n` is not available to {self.username} ({why})"

    # -- batches -------------------------------------------------------------------------------
    def _batch(self, ops: Sequence[tuple[str, str]], *, max_bytes: int, sudo: bool = False) -> list[ssh_batch.Record]:
        if self._plan is not None:
            if not sudo:  # root-only reads stay on demand: one `sudo -n` batch after the scan's batch
                self._plan.add_ops(ops, max_bytes)
            raise PlannedOnly(f"{self.target}: planning pass")
        boundary = ssh_batch.new_boundary()
        cmd = ssh_batch.helper_command(boundary, ops, max_bytes=max_bytes, sudo=sudo)
        timeout = max(self.command_timeout, 10.0)
        code, out, err = self._exec(cmd, timeout, "file batch" + (" (sudo)" if sudo else ""))
        if sudo:
            m = _SUDO_REFUSED.search(err.decode("utf-8", "replace"))
            if m:
                self._note_sudo_refused(m.group(0))
                raise AccessDenied(self._sudo_refusal)
            if code == 127 or b"sudo: not found" in err or b"sudo: command not found" in err:
                self._note_sudo_refused("sudo is not installed on the target")
                raise AccessDenied(self._sudo_refusal)
        try:
            records = ssh_batch.parse_records(out, boundary)
        except ssh_batch.BatchParseError as exc:
            detail = err.decode("utf-8", "replace").strip().splitlines()[:1]
            raise TransportError(f"{self.target}: {exc}{': ' + detail[0] if detail else ''} (exit {code})") from exc
        if sudo:
            self._sudo = True
        return records

    def _store(self, records: list[ssh_batch.Record], limits: dict[str, int], *, priv: bool = False) -> None:
        files = self._priv if priv else self._files
        for r in records:
            if r.op == "r":
                limit = limits.get(r.path, ssh_batch.EXPAND_MAX + 1)
                files[r.path] = _Entry(r.status, r.payload, limit, r.error)
            elif r.op in ("l", "L"):
                self._dirs[r.path] = _Entry(r.status, r.payload)
            elif r.op == "s":
                st = ssh_batch.parse_stat_line(r.payload.decode("utf-8", "surrogateescape"), r.path)
                if r.status == "ok" and st is not None:
                    self._stats[r.path] = st
                else:
                    self._stats.pop(r.path, None)
                    if r.status in ("missing", "denied"):
                        self._files.setdefault(r.path, _Entry(r.status))
                    else:
                        self._stat_errors[r.path] = r.payload.decode("utf-8", "replace").strip() or "stat failed"
            elif r.op == "S" and r.status == "ok":
                self._stats.update(ssh_batch.parse_dir_stats(r.payload, r.path))
                self._dir_stats_done.add(r.path)

    # -- one round trip: the scan's requests learnt by a dry pass, then fetched in one script ------------
    @contextmanager
    def planning(self) -> Iterator[None]:
        """While open, what is not cached yet is recorded (and refused with PlannedOnly); nothing is sent."""
        self._plan = ssh_plan.Plan(heavy_ok=self._batches > 0)
        try:
            yield
        finally:
            self._planned, self._plan = self._plan, None

    def plan_collector(self, name: str) -> None:
        """The dry pass moves on to the next collector (agent.scan._prefetch says so)."""
        if self._plan is not None:
            self._plan.next_collector()

    def prefetch(self) -> bool:
        """Fetch what the dry pass recorded in one script (ssh_plan); True when something was fetched.

        Never raises for the batch itself: a batch that fails, times out or answers damaged costs one
        round trip, and the collectors then ask on demand as before. A lost connection surfaces at the
        collectors' first request, which ends the host's scan as without a batch.
        """
        plan, self._planned = self._planned, None
        if not self.batch:
            self.collection = "SSH: on demand (batching off)"
            return False
        if not plan:
            if self.collection is None:
                self.collection = "SSH: on demand (nothing to batch)"
            return False
        boundary = ssh_batch.new_boundary()
        lines = list(plan.commands)

        def remote_line(argv: tuple[str, ...], timeout: float, sudo: bool) -> str:
            return build_command(argv, timeout=timeout, sudo=sudo, kill_at=max(1, math.ceil(timeout)))

        script = ssh_plan.compile_plan(plan, boundary, expand_max=ssh_batch.EXPAND_MAX + 1, remote_line=remote_line)
        what = f"batch of {len(plan)} requests"
        try:
            _code, out, _err = self._exec(script, plan.deadline(max(self.command_timeout, 10.0)), what)
            answer = ssh_plan.parse_answer(out, boundary, len(lines))
        except (TransportError, ssh_batch.BatchParseError) as exc:
            if isinstance(exc, Unreachable):
                self.collection = f"SSH: host lost during the batch ({exc})"
            else:
                self.collection = f"SSH: on demand (the batch of {len(plan)} requests failed: {str(exc)[:200]})"
                log.warning("%s: batch of %d requests failed, collecting on demand: %s", self.target, len(plan), exc)
            return False
        limits = {p: (1 << 62) if lim >= ssh_plan.WHOLE else lim for p, lim in plan.reads.items()}
        limits.update(dict.fromkeys(answer.whole, 1 << 62))
        self._store(answer.records, limits)
        for i, line in enumerate(lines):
            got = answer.commands.get(i)
            if got is not None:
                self._cmds[line] = got
        self._batches += 1
        self._batched_files += sum(1 for r in answer.records if r.op == "r")
        self._batched_cmds += len(answer.commands)
        rounds = "one batch" if self._batches == 1 else f"{self._batches} batches"
        self.collection = (f"SSH: {rounds} of the scan's requests ({self._batched_files} files read, "
                           f"{self._batched_cmds} commands run), data-dependent requests on demand")
        return True

    def _hello(self) -> None:
        ops: list[tuple[str, str]] = [("i", "-")]
        if self.prefetch_common:
            ops += [("r", p) for p in PREFETCH_FILES] + [("L", d) for d in PREFETCH_DIRS]
        try:
            records = self._batch(ops, max_bytes=8 * 1024 * 1024)
        except TransportError as exc:
            if isinstance(exc, Unreachable | TimedOut):
                raise
            raise Unsupported(
                f"{self.target}: cannot run a POSIX shell helper ({exc}); only Linux hosts are audited over SSH "
                "(use WinRM for Windows)"
            ) from exc
        ident = next((r for r in records if r.op == "i"), None)
        lines = ident.payload.decode("utf-8", "replace").split() if ident else []
        self.uname = lines[0] if lines else ""
        self._is_root = len(lines) > 1 and lines[1] == "0"
        if self.uname != "Linux":
            raise Unsupported(
                f"{self.target} runs {self.uname or 'an unknown OS'}; only Linux hosts are audited over SSH "
                "(use WinRM for Windows)"
            )
        self.os = OsFamily.LINUX
        self._store(records, {p: 8 * 1024 * 1024 for p in PREFETCH_FILES})

    # -- files ---------------------------------------------------------------------------------
    @staticmethod
    def _norm(path: str) -> str:
        if "\n" in path or "\0" in path:
            raise FileMissing(f"{path!r}: unsupported file name")
        return posixpath.normpath(path) if path.startswith("/") else path

    def _and_parent(self, ops: list[tuple[str, str]], key: str) -> list[tuple[str, str]]:
        """Add a listing of the parent directory to a miss's batch (no fork remotely: a shell glob).

        Collectors probe many candidate paths per directory (RHEL and Debian layouts, *.wants dirs);
        once the parent is listed, every absent sibling is answered without a round trip.
        """
        parent = posixpath.dirname(key)
        if key.startswith("/") and parent != key and parent not in self._dirs:
            ops.append(("l", parent))
        return ops

    def _kindred(self, key: str, limit: int = 100) -> list[str]:
        """Unlisted siblings with the same suffix (`*.wants`, `rc?.d`): collectors walk them in a row."""
        parent, name = posixpath.split(key)
        ent = self._dirs.get(parent)
        if ent is None or ent.status != "ok" or "." not in name.strip("."):
            return []
        suffix = name[name.rindex("."):]
        out = []
        for sib in ssh_batch.parse_listing(ent.data):
            full = posixpath.join(parent, sib)
            if sib.endswith(suffix) and full != key and full not in self._dirs:
                out.append(full)
        return out[:limit]

    def _listed_absent(self, path: str) -> bool:
        """True when the parent directory was listed and this name is not in it."""
        parent, name = posixpath.split(path)
        ent = self._dirs.get(parent)
        return ent is not None and ent.status == "ok" and name not in ssh_batch.parse_listing(ent.data)

    def _raise_for(self, path: str, ent: _Entry, *, what: str = "read") -> None:
        if ent.status in ("missing", "dangling"):
            raise _missing(path)
        if ent.status == "isdir":
            raise _missing(path, "is a directory")
        if ent.status == "notdir":
            raise _missing(path, "not a directory")
        if ent.status == "denied":
            raise AccessDenied(f"{path}: permission denied")
        if ent.status == "special":  # never read: `head` would block on a FIFO until the host's deadline
            raise NotRegularFile(f"{path}: is a FIFO, socket or device, not a regular file: not read (collectors read regular files only: check what put it there)")
        if ent.status != "ok":
            raise TransportError(f"{path}: {what} failed: {ent.message or ent.status}")

    def read_file(self, path: str, *, privileged: bool = False, max_bytes: int = 8 * 1024 * 1024) -> bytes:
        key = self._norm(path)
        ent = self._files.get(key)
        if ent is None and self._listed_absent(key):
            raise _missing(path)
        if ent is None or not ent.covers(max_bytes):
            self._store(self._batch(self._and_parent([("r", key)], key), max_bytes=max_bytes), {key: max_bytes})
            ent = self._files.get(key, _Entry("error", message="no record"))
        if ent.status == "denied" and privileged and self._need_root():
            return self._read_privileged(key, path, max_bytes)
        self._raise_for(path, ent)
        if len(ent.data) > HOLD_MAX:
            # big files (logs, lastlog) are read once: do not hold them for the scan. Up to HOLD_MAX they
            # stay: dpkg's status (~0.7 MB) is read by several collectors and was fetched three times.
            self._files[key] = _Entry("ok", b"", 0)
        return ent.data[:max_bytes]

    def _read_privileged(self, key: str, path: str, max_bytes: int) -> bytes:
        ent = self._priv.get(key)
        if ent is None or not ent.covers(max_bytes):
            if self._sudo is False:
                raise AccessDenied(f"{path}: permission denied (needs root; {self._sudo_refusal})")
            # one sudo round trip for every file that was denied so far: they are usually all wanted
            pending = [k for k, e in self._files.items() if e.status == "denied" and k not in self._priv]
            pending = list(dict.fromkeys([key, *pending]))
            try:
                records = self._batch([("r", k) for k in pending], max_bytes=max_bytes, sudo=True)
            except AccessDenied as exc:
                raise AccessDenied(f"{path}: permission denied (needs root; {exc})") from exc
            self._store(records, dict.fromkeys(pending, max_bytes), priv=True)
            ent = self._priv.get(key, _Entry("error", message="no record"))
        self._raise_for(path, ent)
        return ent.data[:max_bytes]

    def read_many(self, paths: Sequence[str], *, privileged: bool = False) -> dict[str, bytes | TransportError]:
        limit = 8 * 1024 * 1024
        wanted = []
        for p in paths:
            with contextlib.suppress(FileMissing):
                k = self._norm(p)
                ent = self._files.get(k)
                if (ent is None or not ent.covers(limit)) and not self._listed_absent(k):
                    wanted.append(k)
        if wanted:
            self._store(self._batch([("r", k) for k in dict.fromkeys(wanted)], max_bytes=limit), dict.fromkeys(wanted, limit))
        out: dict[str, bytes | TransportError] = {}
        for p in paths:
            try:
                out[p] = self.read_file(p, privileged=privileged, max_bytes=limit)
            except TransportError as exc:
                out[p] = exc
        return out

    def stat(self, path: str) -> FileStat:
        key = self._norm(path)
        if key in self._stats:
            return dataclasses.replace(self._stats[key], path=path)
        ent = self._files.get(key)
        if (ent is not None and ent.status == "missing") or self._listed_absent(key):
            raise _missing(path)
        parent = posixpath.dirname(key)
        pent = self._dirs.get(parent)
        if (
            pent is not None
            and pent.status == "ok"
            and parent not in self._dir_stats_done
            and len(ssh_batch.parse_listing(pent.data)) <= 2000
        ):
            # the usual pattern is listdir then stat each entry: one `stat` call answers them all
            self._store(self._batch([("S", parent), ("s", key)], max_bytes=0), {})
        else:
            self._store(self._batch(self._and_parent([("s", key)], key), max_bytes=0), {})
        if key in self._stats:
            return dataclasses.replace(self._stats[key], path=path)
        ent = self._files.get(key)
        if ent is not None and ent.status in ("missing", "denied"):
            self._raise_for(path, ent, what="stat")
        raise TransportError(f"{path}: stat failed: {self._stat_errors.get(key, 'no answer')}")

    def list_dir(self, path: str) -> list[str]:
        key = self._norm(path)
        ent = self._dirs.get(key)
        if ent is None:
            if self._listed_absent(key):
                raise _missing(path)
            op = "L" if key.endswith(".d") or key in PREFETCH_DIRS else "l"
            ops = self._and_parent([(op, key)], key)
            ops += [("l", sib) for sib in self._kindred(key)]
            self._store(self._batch(ops, max_bytes=0), {})
            ent = self._dirs.get(key, _Entry("error", message="no record"))
        if ent.status == "notdir":
            raise _missing(path, "not a directory")
        self._raise_for(path, ent, what="listing")
        return ssh_batch.parse_listing(ent.data)
