"""WinRM (WS-Management) transport for Windows hosts, over pywinrm's low-level Protocol.

One remote shell is opened per host on first use and reused for every command: each WS-Man round trip
costs a TLS request (and NTLM's three on a fresh connection), so a scan of ~15 collectors stays near 50
requests instead of 150. PowerShell scripts go as `-EncodedCommand` (UTF-16LE, base64), the way WinRM
clients avoid cmd.exe quoting; the shell runs in code page 65001 so Japanese names survive.

Errors are mapped here, at the edge (train's rule): 401 -> AuthFailed, refused/DNS/TLS -> Unreachable,
a WinRM service that stops answering -> ServiceHung (both TimedOut and Unreachable: the host's scan ends
with one error instead of every collector waiting out its own timeout). The password is kept only in
pywinrm's session object and scrubbed from every message this module produces.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import math
import re
import stat as stat_mod
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from tenken.collectors.transport.base import (
    AccessDenied,
    AuthFailed,
    CommandNotFound,
    CommandResult,
    FileMissing,
    FileStat,
    OsFamily,
    TimedOut,
    Transport,
    TransportError,
    Unreachable,
    Unsupported,
)

log = logging.getLogger(__name__)

AUTH_METHODS = ("ntlm", "kerberos", "credssp", "basic")
#: cmd.exe refuses command lines longer than 8191 characters; -EncodedCommand counts against it.
MAX_COMMAND_LINE = 8000
#: Bytes of stdin per WS-Man Send (base64 in the envelope; well under the default MaxEnvelopeSizekb of 500).
STDIN_CHUNK = 192 * 1024
#: Exit codes the scripts below use to say what went wrong without parsing localised error text.
EXIT_MISSING = 2
EXIT_DENIED = 5
EXIT_TOO_BIG = 27
EXIT_NOT_FOUND = 127

#: A script exits with this when PowerShell runs in Constrained Language Mode (AppLocker/WDAC/__PSLockdownPolicy).
EXIT_CONSTRAINED = 126
CONSTRAINED_MARKER = "TENKEN-LANGUAGE-MODE:"

# Output as UTF-8 (not the OEM code page, which mangles Japanese), no progress records on stderr, and
# every error terminating so a script's exit code reflects it. The encoding assignment is wrapped: some
# hosts (no console attached, restricted runspaces) throw on it, and a failed cosmetic line must not fail
# every collector. Constrained Language Mode (application control on hardened hospital hosts) blocks
# .NET calls, COM and Add-Type that the scripts use, so it is detected first and reported as its own
# reason instead of as dozens of unrelated script errors. No script pipes a native tool through `2>&1`:
# under $ErrorActionPreference='Stop' Windows PowerShell 5.1 turns the first stderr line into a
# terminating NativeCommandError.
PS_PRELUDE = (
    "$ProgressPreference='SilentlyContinue';"
    "if ($ExecutionContext.SessionState.LanguageMode -ne 'FullLanguage') {"
    # (to stdout with a plain expression: [Console] itself is off limits in that mode)
    f" '{CONSTRAINED_MARKER}' + $ExecutionContext.SessionState.LanguageMode; exit {EXIT_CONSTRAINED} }};"
    "try { [Console]::OutputEncoding=New-Object System.Text.UTF8Encoding $false } catch { };"
    "$ErrorActionPreference='Stop';"
)


class ServiceHung(TimedOut, Unreachable):
    """The WinRM service accepted the connection but stopped answering WS-Man requests.

    A server that misses its own OperationTimeout is not running a slow command (that comes back as a
    WS-Man timeout fault, retried until the command's deadline); it is stuck, so the host's scan ends.
    """


class PlannedOnly(Unsupported):
    """Raised to a collector during the dry pass that learns a scan's scripts (`WinRMTransport.planning`)."""


class WinRMShellFault(TransportError):
    """The WS-Management service answered with a fault (quota exceeded, shell gone, ...)."""


def _ps_quote(text: str) -> str:
    """A PowerShell single-quoted literal: nothing inside is expanded, a quote is doubled."""
    return "'" + text.replace("'", "''") + "'"


def encode_powershell(script: str) -> str:
    """The `-EncodedCommand` argument: base64 of the script's UTF-16LE bytes."""
    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")


_CLIXML_S = re.compile(r'<S S="Error">(.*?)</S>', re.S)
_CLIXML_ESC = re.compile(r"_x([0-9A-Fa-f]{4})_")


def clixml_to_text(data: bytes) -> bytes:
    """PowerShell's stderr over WinRM is CLIXML (`#< CLIXML` + error records); keep only the messages."""
    if not data.lstrip().startswith(b"#< CLIXML"):
        return data
    text = data.decode("utf-8", "replace")
    parts = [_CLIXML_ESC.sub(lambda m: chr(int(m.group(1), 16)), s) for s in _CLIXML_S.findall(text)]
    for ent, ch in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&apos;", "'"), ("&amp;", "&")):
        parts = [p.replace(ent, ch) for p in parts]
    return "".join(parts).encode("utf-8")


class WinRMTransport(Transport):
    """A Windows host over WinRM. HTTPS with certificate validation unless explicitly told otherwise."""

    os = OsFamily.WINDOWS
    can_run = True
    is_local = False

    def __init__(
        self,
        host: str,
        *,
        port: int = 5986,
        username: str,
        password: str,
        auth: str = "ntlm",
        use_https: bool = True,
        ca_file: str | None = None,
        verify: bool = True,
        connect_timeout: float = 10,
        command_timeout: float = 60,
    ) -> None:
        auth = auth.lower()
        self.host = host
        self.port = port
        self.username = username
        self._password = password
        self.auth = auth
        self.use_https = use_https
        self.connect_timeout = float(connect_timeout)
        self.command_timeout = float(command_timeout)
        scheme = "https" if use_https else "http"
        # plain HTTP is marked in the target itself, so every finding and report shows it
        self.target = f"{host}:{port}" if use_https else f"http://{host}:{port}"
        self.endpoint = f"{scheme}://{_url_host(host)}:{port}/wsman"
        if auth not in AUTH_METHODS:
            raise Unsupported(f"{self.target}: unknown WinRM auth {auth!r} (use one of {', '.join(AUTH_METHODS)})")
        _require_auth_support(auth, self.target)
        if not use_https and auth == "basic":
            raise Unsupported(
                f"{self.target}: Basic authentication over plain HTTP would send the password in clear text; "
                "use HTTPS, or NTLM/Kerberos (which encrypt WinRM messages over HTTP)"
            )
        if not use_https:
            log.warning(
                "INSECURE: WinRM to %s over plain HTTP (port %s): the server is not authenticated by a certificate "
                "and only %s message encryption protects the traffic. Use HTTPS (port 5986) in production.",
                host, port, auth.upper(),
            )
        elif not verify:
            log.warning("INSECURE: WinRM to %s:%s without certificate verification: the server is not authenticated.", host, port)
        # A WS-Man Receive blocks server-side up to OperationTimeout and then answers with a timeout fault
        # (retried until the command's own deadline). The HTTP read timeout is a little longer: missing
        # it means the service is stuck.
        self._op_timeout = max(1, min(20, math.ceil(self.command_timeout) - 1))
        self._read_timeout = self._op_timeout + max(2.0, min(10.0, self.connect_timeout))
        from winrm.protocol import Protocol

        try:
            self._proto = Protocol(
                endpoint=self.endpoint,
                transport=auth,  # type: ignore[arg-type]
                username=username,
                password=password,
                server_cert_validation="validate" if verify else "ignore",
                ca_trust_path=ca_file or _system_ca_bundle(),
                read_timeout_sec=math.ceil(self._read_timeout),
                operation_timeout_sec=self._op_timeout,
                message_encryption="auto",
                proxy=None,  # a hospital's HTTP proxy must not see (or break) WinRM to internal hosts
            )
        except Exception as exc:
            raise Unsupported(self._scrub(f"{self.target}: cannot set up WinRM: {exc}")) from None
        # requests takes (connect, read); pywinrm only knows one number
        self._proto.transport.read_timeout_sec = (self.connect_timeout, self._read_timeout)  # type: ignore[assignment]
        self._shell: str | None = None
        self._dead: TransportError | None = None
        #: WS-Man requests made (the bench and the report's `collection` read it)
        self.round_trips = 0
        #: how this scan's evidence was fetched (TargetInfo.collection), set by prefetch()
        self.collection: str | None = None
        self._plan: list[tuple[str, str, float]] | None = None  # (kind, script or command line, timeout) while planning
        self._planned: list[tuple[str, str, float]] = []
        self._answers: dict[tuple[str, str], CommandResult | TransportError] = {}
        self._served = 0

    # -- error mapping ------------------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        if self._password and len(self._password) >= 1:
            text = text.replace(self._password, "***")
        return text

    def _map(self, exc: BaseException, what: str) -> TransportError:
        """Turn pywinrm/requests exceptions into the TransportError tree, with no secret in the text."""
        import requests
        from winrm import exceptions as wx

        t = self.target
        if isinstance(exc, TransportError):
            return exc
        if isinstance(exc, wx.InvalidCredentialsError | wx.AuthenticationError):
            return AuthFailed(f"{t}: WinRM {self.auth} authentication failed for user {self.username!r} (HTTP 401)")
        if isinstance(exc, requests.exceptions.SSLError):
            detail = str(exc)
            if "CERTIFICATE_VERIFY_FAILED" in detail or "certificate verify failed" in detail:
                m = re.search(r"certificate verify failed: ([^(')\]]+)", detail)
                why = m.group(1).strip() if m else "unknown reason"
                return Unreachable(
                    f"{t}: TLS certificate verify failed ({why}); pass the hospital CA with --ca-file, or check the host name"
                )
            return Unreachable(self._scrub(f"{t}: TLS handshake failed: {_short(detail)}"))
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return Unreachable(f"{t}: connection timed out after {self.connect_timeout:g}s")
        if isinstance(exc, requests.exceptions.ReadTimeout):
            return ServiceHung(f"{t}: WinRM service stopped answering ({what}: no reply within {self._read_timeout:g}s)")
        if isinstance(exc, requests.exceptions.ConnectionError):
            detail = str(exc)
            if "Name or service not known" in detail or "getaddrinfo" in detail or "nodename nor servname" in detail:
                return Unreachable(f"{t}: host name does not resolve")
            if "Connection refused" in detail or "ECONNREFUSED" in detail:
                return Unreachable(f"{t}: connection refused (is the WinRM {'HTTPS' if self.use_https else 'HTTP'} listener on port {self.port}?)")
            if "RemoteDisconnected" in detail or "Connection aborted" in detail or "reset" in detail.lower():
                return Unreachable(f"{t}: connection closed by the server during {what}")
            return Unreachable(self._scrub(f"{t}: cannot connect: {_short(detail)}"))
        if isinstance(exc, wx.WSManFaultError):
            reason = self._scrub((exc.reason or "").strip())
            if exc.wsman_fault_code == 5 or "access is denied" in reason.lower():
                return AccessDenied(f"{t}: {what}: access denied by WinRM ({reason})")
            return WinRMShellFault(f"{t}: {what}: WS-Management fault {exc.wsman_fault_code or exc.fault_subcode or ''}: {_short(reason)}")
        if isinstance(exc, wx.WinRMTransportError):
            return WinRMShellFault(f"{t}: {what}: HTTP {exc.code} from the WinRM service")
        if isinstance(exc, wx.WinRMError):
            return WinRMShellFault(self._scrub(f"{t}: {what}: {_short(str(exc))}"))
        return WinRMShellFault(self._scrub(f"{t}: {what}: {type(exc).__name__}: {_short(str(exc))}"))

    def _call(self, what: str, fn: Any, *args: Any) -> Any:
        if self._dead is not None:
            raise type(self._dead)(f"{self._dead} (earlier in this scan; not retried)")
        self.round_trips += 1
        try:
            return fn(*args)
        except Exception as exc:
            mapped = self._map(exc, what)
            if isinstance(mapped, Unreachable | AuthFailed):
                self._dead = mapped
            raise mapped from None

    # -- shell and commands -------------------------------------------------------------------
    def _ensure_shell(self) -> str:
        if self._shell is None:
            try:
                self._shell = self._call("open shell", lambda: self._proto.open_shell(codepage=65001, noprofile=True))
            except AccessDenied as exc:
                # authenticated, but not allowed a shell: nothing on this host can be collected
                self._dead = AuthFailed(f"{exc} — the account needs to be a local administrator (or in Remote Management Users)")
                raise self._dead from None
        assert self._shell is not None
        return self._shell

    def _execute(self, command: str, args: Sequence[str], *, timeout: float, what: str, stdin: bytes | None = None) -> tuple[bytes, bytes, int]:
        shell = self._ensure_shell()
        deadline = time.monotonic() + timeout
        cid = self._call(what, self._proto.run_command, shell, command, list(args))
        if stdin is not None:
            for start in range(0, max(len(stdin), 1), STDIN_CHUNK):
                end = start + STDIN_CHUNK >= len(stdin)
                self._call(what, self._proto.send_command_input, shell, cid, stdin[start:start + STDIN_CHUNK], end)
        out: list[bytes] = []
        err: list[bytes] = []
        code = -1
        try:
            while True:
                if time.monotonic() > deadline:
                    raise TimedOut(f"{self.target}: {what} did not finish within {timeout:g}s")
                got = self._call(what, self._receive_once, shell, cid)
                if got is None:  # the server's OperationTimeout passed with no output: ask again
                    continue
                o, e, code, done = got
                out.append(o)
                err.append(e)
                if done:
                    break
        finally:
            if self._dead is None:
                with contextlib.suppress(TransportError):
                    self._call("signal", self._proto.cleanup_command, shell, cid)
        return b"".join(out), b"".join(err), code

    def _receive_once(self, shell: str, cid: str) -> tuple[bytes, bytes, int, bool] | None:
        from winrm.exceptions import WinRMOperationTimeoutError

        try:
            return self._proto.get_command_output_raw(shell, cid)
        except WinRMOperationTimeoutError:
            return None

    def run(self, argv: Sequence[str], *, timeout: float = 10.0, privileged: bool = False) -> CommandResult:
        """Run a console program through cmd.exe. WinRM sessions are already as privileged as the account."""
        line = subprocess.list2cmdline(list(argv))
        if self._plan is not None:
            self._plan.append(("cmd", line, timeout))
            raise PlannedOnly(f"{self.target}: planning pass")
        cached = self._answer("cmd", line)
        if cached is not None:
            out, err, code = cached.stdout, cached.stderr, cached.exit_code
        else:
            out, err, code = self._execute(line, (), timeout=timeout, what=f"`{argv[0] if argv else ''}`")
        if code == 9009 and not out:  # cmd.exe: "is not recognized as an internal or external command"
            raise CommandNotFound(f"{self.target}: {argv[0]} not found")
        return CommandResult(argv=tuple(argv), exit_code=code, stdout=out, stderr=err)

    def run_powershell(self, script: str, *, timeout: float = 30.0) -> CommandResult:
        """Run a PowerShell script (Windows PowerShell 5.1 or later) and return its raw output."""
        if self._plan is not None:
            self._plan.append(("ps", script, timeout))
            raise PlannedOnly(f"{self.target}: planning pass")
        first = next((ln.strip() for ln in script.splitlines() if ln.strip() and not ln.strip().startswith("#")), "")
        argv = ("powershell", first[:120])
        cached = self._answer("ps", script)
        if cached is not None:
            return CommandResult(argv=argv, exit_code=cached.exit_code, stdout=cached.stdout, stderr=clixml_to_text(cached.stderr))
        encoded = encode_powershell(PS_PRELUDE + script)
        out, err, code = self._execute("powershell.exe", _ps_args(encoded, self.target), timeout=timeout, what="PowerShell")
        return CommandResult(argv=argv, exit_code=code, stdout=out, stderr=clixml_to_text(err))

    # -- one round trip: the scan's scripts learnt by a dry pass, then run in one batch ---------------
    @contextmanager
    def planning(self) -> Iterator[None]:
        """While open, scripts and commands are recorded (and refused with PlannedOnly), nothing is sent."""
        self._plan = []
        try:
            yield
        finally:
            self._planned, self._plan = self._plan, None

    def prefetch(self) -> None:
        """Run what the dry pass recorded as one batch (winrm_batch); on any failure, collect on demand.

        Never raises for the batch itself: a batch that fails or answers wrongly costs one round trip and
        the collectors fall back to their own scripts. A lost connection or refused login is remembered by
        `_call` and ends the host's scan at the collectors' first request, as without a batch.
        """
        from tenken.collectors.transport import winrm_batch as wb

        planned = list(dict.fromkeys((k, a) for k, a, _ in self._planned))
        timeouts: dict[tuple[str, str], float] = {}
        for k, a, t in self._planned:
            timeouts[(k, a)] = max(t, timeouts.get((k, a), 0.0))
        self._planned = []
        if not planned:
            return
        jobs = [wb.Job(kind=k, arg=encode_powershell(PS_PRELUDE + a) if k == "ps" else a, timeout=timeouts[(k, a)]) for k, a in planned]
        wrapper = encode_powershell(PS_PRELUDE + wb.WRAPPER)
        try:
            out, err, code = self._execute("powershell.exe", _ps_args(wrapper, self.target), timeout=wb.batch_deadline(jobs),
                                           what="batch of the scan's scripts", stdin=wb.encode_jobs(jobs))
            if code == EXIT_CONSTRAINED and CONSTRAINED_MARKER.encode() in out:
                raise TransportError("PowerShell runs in Constrained Language Mode")
            if code != 0:
                raise TransportError(f"exit {code}: {_short(clixml_to_text(err).decode('utf-8', 'replace'))}")
            answers = wb.parse_answer(out, len(jobs))
        except (TransportError, wb.BatchAnswerError) as exc:
            if isinstance(exc, Unreachable | AuthFailed):
                self.collection = f"WinRM: host lost during the batch ({exc})"
                return
            self.collection = f"WinRM: scripts run one by one (the batch of {len(jobs)} failed: {_short(str(exc))})"
            log.warning("%s: batch of %d scripts failed, collecting script by script: %s", self.target, len(jobs), exc)
            return
        for (k, a), job, res in zip(planned, jobs, (answers[i] for i in range(len(jobs))), strict=True):
            if res.timed_out:
                self._answers[(k, a)] = TimedOut(f"{self.target}: {'PowerShell' if k == 'ps' else a.split(' ', 1)[0]} did not finish within {job.timeout:g}s")
            elif res.start_failed:
                self._answers[(k, a)] = TransportError(f"{self.target}: could not start: {_short(res.stderr.decode('utf-8', 'replace'))}")
            else:
                self._answers[(k, a)] = CommandResult(argv=(), exit_code=res.exit_code, stdout=res.stdout, stderr=res.stderr)
        self.collection = f"WinRM: one batch of {len(jobs)} scripts and commands"

    def _answer(self, kind: str, text: str) -> CommandResult | None:
        """The batch's answer to this script (raising its timeout or start failure), or None: run it now."""
        got = self._answers.get((kind, text))
        if got is None:
            return None
        self._served += 1
        if isinstance(got, TransportError):
            raise type(got)(str(got))
        return got

    # -- files ----------------------------------------------------------------------------------
    def _file_error(self, res: CommandResult, path: str) -> TransportError:
        msg = res.stderr.decode("utf-8", "replace").strip()
        if res.exit_code == EXIT_MISSING:
            return FileMissing(f"{self.target}: {path}: not found")
        if res.exit_code == EXIT_DENIED:
            return AccessDenied(f"{self.target}: {path}: access denied")
        if res.exit_code == EXIT_TOO_BIG:
            return TransportError(f"{self.target}: {path}: larger than the read limit")
        return TransportError(f"{self.target}: {path}: {_short(msg) or f'exit {res.exit_code}'}")

    _CLASSIFY = (
        "catch { $e=$_.Exception; while ($e.InnerException) { $e=$e.InnerException };"
        " if ($e -is [System.IO.FileNotFoundException] -or $e -is [System.IO.DirectoryNotFoundException]"
        " -or $e -is [System.Management.Automation.ItemNotFoundException]) { exit 2 }"
        " elseif ($e -is [System.UnauthorizedAccessException]) { exit 5 }"
        " else { [Console]::Error.WriteLine($e.Message); exit 1 } }"
    )

    def read_file(self, path: str, *, privileged: bool = False, max_bytes: int = 8 * 1024 * 1024) -> bytes:
        script = (
            f"$p={_ps_quote(path)}\n"
            f"try {{ $b=[System.IO.File]::ReadAllBytes($p) }} {self._CLASSIFY}\n"
            f"if ($b.Length -gt {int(max_bytes)}) {{ exit {EXIT_TOO_BIG} }}\n"
            "[Convert]::ToBase64String($b)\n"
        )
        res = self.run_powershell(script, timeout=self.command_timeout)
        if res.exit_code != 0:
            raise self._file_error(res, path)
        try:
            return base64.b64decode(b"".join(res.stdout.split()), validate=True)
        except ValueError as exc:
            raise TransportError(f"{self.target}: {path}: unreadable transfer encoding") from exc

    def stat(self, path: str) -> FileStat:
        script = (
            f"$p={_ps_quote(path)}\n"
            f"try {{ $i=Get-Item -LiteralPath $p -Force }} {self._CLASSIFY}\n"
            "[pscustomobject]@{Length=[int64]$(if ($i.PSIsContainer) {0} else {$i.Length});"
            "Mtime=[double]([DateTimeOffset]$i.LastWriteTimeUtc).ToUnixTimeMilliseconds();"
            "Dir=[bool]$i.PSIsContainer;Attributes=[string]$i.Attributes} | ConvertTo-Json -Compress\n"
        )
        res = self.run_powershell(script, timeout=self.command_timeout)
        if res.exit_code != 0:
            raise self._file_error(res, path)
        try:
            d = json.loads(res.stdout.decode("utf-8-sig"))
            attrs = str(d.get("Attributes") or "")
            is_dir = bool(d.get("Dir"))
            # Windows has ACLs, not modes: report a mode that says dir/file, link and read-only, never "other" bits
            perms = 0o555 if "ReadOnly" in attrs else 0o755
            kind = stat_mod.S_IFDIR if is_dir else (stat_mod.S_IFLNK if "ReparsePoint" in attrs else stat_mod.S_IFREG)
            return FileStat(
                path=path, mode=kind | (perms & 0o770), uid=0, gid=0, size=int(d.get("Length") or 0),
                mtime=float(d.get("Mtime") or 0) / 1000.0, is_dir=is_dir, is_file=not is_dir and "ReparsePoint" not in attrs,
                is_symlink="ReparsePoint" in attrs,
            )
        except (ValueError, TypeError, AttributeError) as exc:
            raise TransportError(f"{self.target}: {path}: unexpected stat output") from exc

    def list_dir(self, path: str) -> list[str]:
        script = (
            f"$p={_ps_quote(path)}\n"
            f"try {{ $n=@(Get-ChildItem -LiteralPath $p -Force | ForEach-Object {{ $_.Name }}) }} {self._CLASSIFY}\n"
            "$n -join \"`n\"\n"
        )
        res = self.run_powershell(script, timeout=self.command_timeout)
        if res.exit_code != 0:
            raise self._file_error(res, path)
        return sorted(n for n in res.stdout.decode("utf-8-sig", "replace").splitlines() if n.strip())

    def close(self) -> None:
        """Delete the remote shell (a leaked shell counts against the server's MaxShellsPerUser)."""
        if self._shell is not None and self._dead is None:
            with contextlib.suppress(Exception):
                self._proto.close_shell(self._shell)
        self._shell = None
        with contextlib.suppress(Exception):
            self._proto.transport.close_session()

    def __repr__(self) -> str:  # never shows the password
        return f"WinRMTransport({self.target!r}, user={self.username!r}, auth={self.auth!r})"


def _ps_args(encoded: str, target: str) -> list[str]:
    if len(encoded) + 120 > MAX_COMMAND_LINE:
        raise Unsupported(f"{target}: PowerShell script too long for one command line ({len(encoded)} chars encoded)")
    return ["-NoLogo", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-EncodedCommand", encoded]


def _system_ca_bundle() -> str | None:
    """The OS trust store (where update-ca-certificates puts a hospital CA), not whatever REQUESTS_CA_BUNDLE
    happens to say in the environment; None falls back to requests' bundled roots."""
    import os
    import ssl

    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile, "/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"):
        if candidate and os.path.isfile(candidate):
            return candidate
    return None


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _short(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def _require_auth_support(auth: str, target: str) -> None:
    """Kerberos and CredSSP need optional packages; say which, instead of pywinrm's late error."""
    import winrm.transport as wt

    if auth == "kerberos" and not wt.HAVE_KERBEROS:
        raise Unsupported(f"{target}: Kerberos needs the optional 'pykerberos' package (pip install 'pywinrm[kerberos]') and a krb5 setup")
    if auth == "credssp" and not wt.HAVE_CREDSSP:
        raise Unsupported(f"{target}: CredSSP needs the optional 'requests-credssp' package (pip install 'pywinrm[credssp]')")
    if auth == "ntlm" and not wt.HAVE_NTLM:
        raise Unsupported(f"{target}: NTLM needs the 'requests_ntlm' package")
