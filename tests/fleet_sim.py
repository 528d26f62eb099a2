"""A simulated fleet: record one real host's transport traffic, replay it as many hosts behind a slow network.

TEST TOOL ONLY. `RecordingTransport` writes every answer a host gives (file contents such as /etc/shadow,
command output) into the recording unscrubbed: use it on test hosts such as tests/sshd_fixture.py, never on
a real hospital host, whose recording would hold its secrets. That is also why this lives under tests/ and
not in collectors/transport/: shipping a recorder would invite users to capture real hosts, and a replay
without a recorder reproduces nothing for them.

- `RecordingTransport` wraps any Transport (it sees only the interface of collectors/transport/base.py, so
  it records the same requests whatever the SSH transport does underneath) and `Recording.save()` writes
  JSON: each distinct request (operation + arguments) with its answers in the order they came.
- `ReplayTransport` implements the same interface and answers from a shared, read-only `Recording`, after
  one simulated network round trip per request (RTT plus jitter, `time.sleep` in the host's own thread, as
  agent/fleet.py runs one thread per host). Each replayed host is distinct: its target, /etc/hostname and
  machine-id come from its name. Behaviours: `ok`, `refuse` (connection refused after one RTT), `hang`
  (TCP accepted, SSH banner never comes: blocks until the fleet's deadline closes the transport) and
  `stall` (answers a few requests, then goes silent mid-scan).
- With `batched=True` it also offers `planning()` / `prefetch()` (the interface agent/scan.py uses for a
  one-round-trip host: WinRM's batch today) and charges one round trip per *wave* (`Recording.waves`): the
  requests a dry pass foresees come in one batch, those that depend on its answers in the next, and so on.
  That models the issue's one-round-trip SSH script path at its best; `batched=False` models a transport
  that pays one round trip per request of the interface (an upper bound: today's SSH transport batches
  some files itself).
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import json
import random
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tenken.collectors.evidence import OsFamily
from tenken.collectors.transport import base
from tenken.collectors.transport.base import (
    CommandResult,
    FileStat,
    Transport,
    TransportError,
    Unreachable,
)

FORMAT = "tenken-sim-recording/v1"
#: Round trips before the first request on a fresh connection: TCP, banners, kex, auth, channel. Measured:
#: paramiko's connect to the sshd fixture through tests/latency_relay.py at 100 ms RTT took 1.05 s.
CONNECT_ROUND_TRIPS = 10
BEHAVIOURS = ("ok", "refuse", "hang", "stall")


class NotRecorded(TransportError):
    """The replayed scan asked something the recorded scan never asked: the replay is no longer faithful."""


class PlannedOnly(TransportError):
    """Refusal given to collectors during the dry pass of `ReplayTransport.planning()`."""


#: A per-scan random token in a command line (apt_remote's stream boundary): replaced by a placeholder in the
#: key and the answer, so a replay with a fresh token finds the recorded answer and gets its own token back.
NONCE = re.compile(r"^[0-9a-f]{32}$")
PLACEHOLDER = "@@nonce{}@@"


def _nonces(argv: Sequence[str]) -> list[str]:
    return [a for a in argv if NONCE.match(a)]


def _argv_key(argv: Sequence[str], nonces: list[str]) -> list[str]:
    return [PLACEHOLDER.format(nonces.index(a)) if a in nonces else a for a in argv]


def _swap(data: bytes, pairs: list[tuple[str, str]]) -> bytes:
    for old, new in pairs:
        data = data.replace(old.encode(), new.encode())
    return data


def _key(op: str, *args: Any) -> str:
    return json.dumps([op, *args], separators=(",", ":"))


def _b(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb(text: str) -> bytes:
    return base64.b64decode(text)


def _encode(value: Any) -> dict[str, Any]:
    """One answer as JSON: bytes, CommandResult, FileStat, list of names, dict of read_many, or an error."""
    if isinstance(value, TransportError):
        return {"error": type(value).__name__, "message": str(value)}
    if isinstance(value, bytes):
        return {"bytes": _b(value)}
    if isinstance(value, CommandResult):
        return {"argv": list(value.argv), "exit_code": value.exit_code, "stdout": _b(value.stdout), "stderr": _b(value.stderr)}
    if isinstance(value, FileStat):
        return {"stat": {k: getattr(value, k) for k in ("path", "mode", "uid", "gid", "size", "mtime", "is_dir", "is_file", "is_symlink")}}
    if isinstance(value, list):
        return {"names": value}
    if isinstance(value, dict):
        return {"many": {p: _encode(v) for p, v in value.items()}}
    raise TypeError(f"cannot record {type(value).__name__}")


def _error_class(name: str) -> type[TransportError]:
    cls = getattr(base, name, None)
    if isinstance(cls, type) and issubclass(cls, TransportError):
        return cls
    return TransportError  # a transport-specific subclass (e.g. ssh's ServiceHung): keep the message


@dataclass(frozen=True)
class _Err:
    cls: type[TransportError]
    message: str


def _materialise(enc: dict[str, Any]) -> Any:
    """An answer decoded once per recording (bytes are immutable, so every replayed host shares them)."""
    if "error" in enc:
        return _Err(_error_class(enc["error"]), enc["message"])
    if "many" in enc:
        return {p: _materialise(v) for p, v in enc["many"].items()}
    return _decode(enc)


def _for_host(value: Any, recorded_target: str, target: str) -> Any:
    """A materialised answer as one host gives it: errors name that host; mutable containers are copies."""
    if isinstance(value, _Err):
        return value.cls(value.message.replace(recorded_target, target))
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return {p: _for_host(v, recorded_target, target) for p, v in value.items()}
    return value


def _decode(enc: dict[str, Any]) -> Any:
    if "bytes" in enc:
        return _unb(enc["bytes"])
    if "exit_code" in enc:
        return CommandResult(tuple(enc["argv"]), enc["exit_code"], _unb(enc["stdout"]), _unb(enc["stderr"]))
    if "stat" in enc:
        return FileStat(**enc["stat"])
    if "names" in enc:
        return list(enc["names"])
    raise ValueError(f"damaged recording entry: {sorted(enc)}")


@dataclass
class Recording:
    """What one host answered, per request key, in order. Read-only once loaded (shared by every replay)."""

    target: str
    os: str = OsFamily.LINUX.value
    answers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: int = 0  # requests the recorded scan made (repeats included)

    def __post_init__(self) -> None:
        self._values: dict[str, list[tuple[Any, bool]]] | None = None
        self._waves: dict[str, int] | None = None
        self._lock = threading.Lock()

    def values(self) -> dict[str, list[tuple[Any, bool]]]:
        """Every answer decoded once, with its gzip flag; shared read-only by all replayed hosts."""
        with self._lock:
            if self._values is None:
                self._values = {k: [(_materialise(e), bool(e.get("gzip"))) for e in v] for k, v in self.answers.items()}
            return self._values

    def waves(self) -> dict[str, int]:
        """Request key -> the batch (1, 2, ...) a perfect one-round-trip planner would fetch it in.

        Dry passes of identity and every collector of the recording's OS (default settings, as scan_host
        uses): pass 1 is answered nothing and learns what needs no answer first; pass n is answered what
        passes < n learnt and learns what those answers lead to. This is the best the issue's script path
        can do (one script, then on-demand batches for what the first pass could not know).
        """
        with self._lock:
            if self._waves is not None:
                return self._waves
        from tenken.collectors.identity import read_identity
        from tenken.collectors.probe import Probe
        from tenken.collectors.registry import collectors_for
        from tenken.collectors.settings import CollectSettings

        specs = collectors_for(OsFamily(self.os))
        settings = CollectSettings()
        waves: dict[str, int] = {}
        for n in range(1, 32):
            planner = ReplayTransport(self, "planner", network=Network(0.0))
            planner._plan, planner._known = [], set(waves)
            read_identity(planner)
            for spec in specs:
                with contextlib.suppress(Exception):
                    spec.func(Probe(planner, settings))
            new = [k for k in dict.fromkeys(planner._plan) if k in self.answers and k not in waves]
            if not new:
                break
            waves.update(dict.fromkeys(new, n))
        with self._lock:
            self._waves = waves
        return waves

    def add(self, key: str, value: Any) -> None:
        self.answers.setdefault(key, []).append(_encode(value))
        self.requests += 1

    def save(self, path: Path) -> None:
        doc = {"format": FORMAT, "target": self.target, "os": self.os, "requests": self.requests, "answers": self.answers}
        path.write_text(json.dumps(doc, indent=0, sort_keys=True))

    @classmethod
    def load(cls, path: Path) -> Recording:
        doc = json.loads(path.read_text())
        if doc.get("format") != FORMAT:
            raise ValueError(f"{path}: not a {FORMAT} recording")
        return cls(target=doc["target"], os=doc["os"], answers=doc["answers"], requests=doc["requests"])


class RecordingTransport(Transport):
    """Pass every request to `inner` and record its answer (or error). Test hosts only: see the module docstring."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.parallel_safe = False  # one request at a time, so the order of repeated answers is the scan's
        self.recording: Recording | None = None

    @property  # type: ignore[override]
    def target(self) -> str:
        return self.inner.target

    @target.setter
    def target(self, value: str) -> None:
        self.inner.target = value

    # the inner transport may learn these only when it connects (SSH detects the OS)
    @property  # type: ignore[override]
    def os(self) -> OsFamily:
        return self.inner.os

    @property  # type: ignore[override]
    def can_run(self) -> bool:
        return self.inner.can_run

    @property  # type: ignore[override]
    def is_local(self) -> bool:
        return self.inner.is_local

    def connect(self) -> RecordingTransport:
        connect = getattr(self.inner, "connect", None)
        if callable(connect):
            connect()
        self.recording = Recording(target=self.inner.target, os=self.inner.os.value)
        return self

    def _call(self, key: str, fn: Any, *args: Any, **kw: Any) -> Any:
        if self.recording is None:
            self.recording = Recording(target=self.inner.target, os=self.inner.os.value)
        try:
            value = fn(*args, **kw)
        except TransportError as exc:
            self.recording.add(key, exc)
            raise
        self.recording.add(key, value)
        return value

    def run(self, argv: Sequence[str], *, timeout: float = 10.0, privileged: bool = False) -> CommandResult:
        nonces = _nonces(argv)
        if not nonces:
            return self._call(_key("run", list(argv), privileged), self.inner.run, argv, timeout=timeout, privileged=privileged)
        key = _key("run", _argv_key(argv, nonces), privileged)
        if self.recording is None:
            self.recording = Recording(target=self.inner.target, os=self.inner.os.value)
        try:
            res = self.inner.run(argv, timeout=timeout, privileged=privileged)
        except TransportError as exc:
            self.recording.add(key, exc)
            raise
        out, zipped = res.stdout, res.stdout[:2] == b"\x1f\x8b"
        if zipped:
            out = gzip.decompress(out)
        pairs = [(n, PLACEHOLDER.format(i)) for i, n in enumerate(nonces)]
        enc = _encode(CommandResult(tuple(_argv_key(argv, nonces)), res.exit_code, _swap(out, pairs), _swap(res.stderr, pairs)))
        enc["gzip"] = zipped
        self.recording.answers.setdefault(key, []).append(enc)
        self.recording.requests += 1
        return res

    def read_file(self, path: str, *, privileged: bool = False, max_bytes: int = 8 * 1024 * 1024) -> bytes:
        return self._call(_key("read_file", path, privileged, max_bytes), self.inner.read_file, path,
                          privileged=privileged, max_bytes=max_bytes)

    def read_many(self, paths: Sequence[str], *, privileged: bool = False) -> dict[str, bytes | TransportError]:
        return self._call(_key("read_many", list(paths), privileged), self.inner.read_many, paths, privileged=privileged)

    def stat(self, path: str) -> FileStat:
        return self._call(_key("stat", path), self.inner.stat, path)

    def list_dir(self, path: str) -> list[str]:
        return self._call(_key("list_dir", path), self.inner.list_dir, path)

    def run_powershell(self, script: str, *, timeout: float = 30.0) -> CommandResult:
        return self._call(_key("run_powershell", script), self.inner.run_powershell, script, timeout=timeout)

    def close(self) -> None:
        self.inner.close()


@dataclass(frozen=True)
class Network:
    """The simulated path to a host: round-trip time and uniform jitter (± seconds), seeded per host."""

    rtt: float = 0.020
    jitter: float = 0.0

    def delay(self, rng: random.Random) -> float:
        return max(0.0, self.rtt + (rng.uniform(-self.jitter, self.jitter) if self.jitter else 0.0))


def machine_id_for(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:32]


class ReplayTransport(Transport):
    """One simulated host answering from `recording` (see the module docstring for behaviours)."""

    def __init__(
        self,
        recording: Recording,
        name: str,
        *,
        network: Network | None = None,
        behaviour: str = "ok",
        batched: bool = False,
        stall_after: int = 5,
        user: str = "root",
        port: int = 22,
        seed: int | None = None,
    ) -> None:
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"behaviour {behaviour!r} not in {BEHAVIOURS}")
        self.recording = recording
        self.name = name
        self.target = f"{user}@{name}:{port}"
        self.os = OsFamily(recording.os)
        self.network = network or Network()
        self.behaviour = behaviour
        self.batched = batched
        self.stall_after = stall_after
        self._rng = random.Random(seed if seed is not None else name)
        self._closed = threading.Event()
        self._connected = False
        self._seen: dict[str, int] = {}
        self._plan: list[str] | None = None
        self._known: set[str] = set()  # answered during planning (the waves planner only)
        self._waves = recording.waves() if batched else {}
        self._fetched: set[int] = set()
        #: simulated network round trips this host cost (the bench adds them up)
        self.round_trips = 0
        self.requests = 0
        self.not_recorded: list[str] = []
        mid = machine_id_for(name)
        self._override = {"/etc/machine-id": f"{mid}\n".encode(), "/var/lib/dbus/machine-id": f"{mid}\n".encode(),
                          "/etc/hostname": f"{name}\n".encode()}

    # -- the network ------------------------------------------------------------------------------
    def _wait(self, seconds: float) -> None:
        if self._closed.wait(seconds):
            raise Unreachable(f"{self.target}: connection closed")

    def _round_trip(self) -> None:
        self.round_trips += 1
        self._wait(self.network.delay(self._rng))

    def _silence(self, what: str) -> None:
        """A host that stopped talking: block until the fleet's deadline closes the transport."""
        self._closed.wait()
        raise Unreachable(f"{self.target}: connection closed while waiting for {what}")

    def connect(self) -> ReplayTransport:
        if self.behaviour == "refuse":
            self._round_trip()
            raise Unreachable(f"{self.target}: connection refused")
        self.round_trips += 1
        self._wait(self.network.delay(self._rng))  # TCP handshake
        if self.behaviour == "hang":
            self._silence("the SSH banner")
        for _ in range(CONNECT_ROUND_TRIPS - 1):
            self._round_trip()
        self._connected = True
        return self

    def close(self) -> None:
        self._closed.set()

    # -- answers ----------------------------------------------------------------------------------
    def _answer(self, key: str, *, zipped: list[bool] | None = None) -> Any:
        if self._closed.is_set():
            raise Unreachable(f"{self.target}: connection closed")
        if self._plan is not None and key not in self._known:
            self._plan.append(key)
            raise PlannedOnly(f"{self.target}: planning pass")
        if self._plan is None:
            self.requests += 1
            if self.behaviour == "stall" and self.requests > self.stall_after:
                self._silence("an answer")
            wave = self._waves.get(key)
            if wave is None:
                self._round_trip()  # not foreseeable by any planning pass: asked on demand
            elif wave not in self._fetched:
                self._fetched.add(wave)  # the batch holding every request of this wave
                self._round_trip()
        answers = self.recording.values().get(key)
        if not answers:
            self.not_recorded.append(key)
            raise NotRecorded(f"{self.target}: request not in the recording: {key[:200]}")
        n = self._seen.get(key, 0)
        self._seen[key] = n + 1
        raw, gz = answers[min(n, len(answers) - 1)]
        if zipped is not None:
            zipped.append(gz)
        value = _for_host(raw, self.recording.target, self.target)
        if isinstance(value, TransportError):
            raise value
        return value

    def _file(self, path: str, value: Any) -> Any:
        return self._override.get(path, value)

    def run(self, argv: Sequence[str], *, timeout: float = 10.0, privileged: bool = False) -> CommandResult:
        nonces = _nonces(argv)
        if nonces:
            zipped: list[bool] = []
            res = self._answer(_key("run", _argv_key(argv, nonces), privileged), zipped=zipped)
            pairs = [(PLACEHOLDER.format(i), n) for i, n in enumerate(nonces)]
            out = _swap(res.stdout, pairs)
            return CommandResult(tuple(argv), res.exit_code, gzip.compress(out, 1) if zipped[0] else out, _swap(res.stderr, pairs))
        res = self._answer(_key("run", list(argv), privileged))
        if list(argv) == ["hostname"] and res.ok:
            return CommandResult(res.argv, 0, f"{self.name}\n".encode(), b"")
        return res

    def read_file(self, path: str, *, privileged: bool = False, max_bytes: int = 8 * 1024 * 1024) -> bytes:
        return self._file(path, self._answer(_key("read_file", path, privileged, max_bytes)))

    def read_many(self, paths: Sequence[str], *, privileged: bool = False) -> dict[str, bytes | TransportError]:
        got = self._answer(_key("read_many", list(paths), privileged))
        return {p: self._file(p, v) if isinstance(v, bytes) else v for p, v in got.items()}

    def stat(self, path: str) -> FileStat:
        return self._answer(_key("stat", path))

    def list_dir(self, path: str) -> list[str]:
        return self._answer(_key("list_dir", path))

    def run_powershell(self, script: str, *, timeout: float = 30.0) -> CommandResult:
        return self._answer(_key("run_powershell", script))

    # -- one round trip (batched=True): the planning interface agent/scan.py's _prefetch uses -------
    def __getattr__(self, name: str) -> Any:
        # `planning`/`prefetch` exist only when batched, so scan_host skips the dry pass otherwise
        if name in ("planning", "prefetch") and self.__dict__.get("batched"):
            return getattr(self, f"_{name}")
        raise AttributeError(name)

    @contextlib.contextmanager
    def _planning(self) -> Iterator[None]:
        self._plan = []
        try:
            yield
        finally:
            planned, self._plan = self._plan, None
            self._planned = planned

    def _prefetch(self) -> None:
        """scan_host's dry pass foresaw wave 1: one script out, framed answers back."""
        planned = getattr(self, "_planned", [])
        self._planned = []
        if planned and 1 not in self._fetched:
            self._fetched.add(1)
            self._round_trip()


def record_scan(inner: Transport, out: Path, policy: Any, **scan_kw: Any) -> tuple[Recording, Any]:
    """Scan `inner` through a RecordingTransport, save the recording, return it with the scan's result."""
    from tenken.agent.report import TargetKind
    from tenken.agent.scan import scan_host

    rec = RecordingTransport(inner)
    rec.connect()
    try:
        result = scan_host(rec, policy, kind=TargetKind.SSH, **scan_kw)
    finally:
        rec.close()
    assert rec.recording is not None
    rec.recording.save(out)
    return rec.recording, result


def record_fixture_host(out: Path, workdir: Path, *, only_collectors: set[str] | None = None) -> tuple[Recording, Any]:
    """Start a real sshd (tests/sshd_fixture.py), scan it as root through a RecordingTransport, save to `out`.

    Needs root, like the fixture. The fixture host is this test machine: nothing secret of a real host.
    """
    from sshd_fixture import start_sshd
    from tenken.checks.policy import load_policy
    from tenken.collectors.transport.ssh import SSHTransport

    server = start_sshd(workdir)
    try:
        inner = SSHTransport("127.0.0.1", port=server.port, username="root", identity=str(server.client_key),
                             known_hosts=str(server.known_hosts), use_agent=False)
        policy = load_policy(None)
        return record_scan(inner, out, policy, only_collectors=only_collectors)
    finally:
        server.close()


# -- a simulated fleet through the real fleet runner (agent/fleet.py) -----------------------------------------


@dataclass(frozen=True)
class SimHost:
    """How one simulated host behaves; `spec()` gives the HostSpec the fleet runner schedules."""

    name: str
    behaviour: str = "ok"
    deadline: float = 600.0

    def spec(self) -> Any:
        from tenken.agent.inventory import HostSpec

        return HostSpec(name=self.name, address=self.name, group="sim", transport="ssh", port=22, user="root",
                        identity=None, passphrase=None, agent=False, jump=None, known_hosts=None,
                        connect_timeout=10.0, command_timeout=30.0, deadline=self.deadline, policy=None, winrm=None,
                        where="fleet_sim")


def sim_fleet(n: int, *, hung: int = 0, refused: int = 0, stalled: int = 0, deadline: float = 600.0,
              hang_deadline: float | None = None) -> list[SimHost]:
    """`n` hosts named h0001.sim..., the misbehaving ones spread evenly through the list."""
    bad = ["hang"] * hung + ["refuse"] * refused + ["stall"] * stalled
    step = max(1, n // (len(bad) + 1))
    kinds = ["ok"] * n
    for i, b in enumerate(bad):
        kinds[min(n - 1, (i + 1) * step)] = b
    out = []
    for i, kind in enumerate(kinds):
        d = hang_deadline if hang_deadline is not None and kind in ("hang", "stall") else deadline
        out.append(SimHost(f"h{i + 1:04d}.sim", kind, d))
    return out


def replay_scanner(recording: Recording, hosts: list[SimHost], *, network: Network, batched: bool,
                   stats: dict[str, int] | None = None) -> Any:
    """A `scan` callable for agent.fleet.run_fleet/stream_fleet: agent.fleet.scan_one with a replay transport.

    Mirrors scan_one (job.transport set before connecting, so the deadline's cancel() can close it; every
    transport error becomes the host's target_error) with the transport built from the recording.
    """
    from tenken.agent.fleet import display_target, kind_of
    from tenken.agent.scan import scan_host, target_error

    behaviour = {h.name: h.behaviour for h in hosts}
    lock = threading.Lock()

    def scan(spec: Any, policy: Any, *, known_hosts: str | None = None, job: Any = None) -> Any:
        transport = ReplayTransport(recording, spec.name, network=network, behaviour=behaviour[spec.name],
                                    batched=batched, user=spec.user, port=spec.port)
        if job is not None:
            job.transport = transport
            if job.cancelled:
                return target_error(display_target(spec), kind_of(spec), "cancelled")
        try:
            transport.connect()
            settings = policy.collect_settings(command_timeout=spec.command_timeout)
            return scan_host(transport, policy, kind=kind_of(spec), settings=settings)
        except TransportError as exc:
            return target_error(transport.target, kind_of(spec), str(exc))
        finally:
            transport.close()
            if stats is not None:
                with lock:
                    stats["round_trips"] = stats.get("round_trips", 0) + transport.round_trips
                    stats["requests"] = stats.get("requests", 0) + transport.requests
                    stats["not_recorded"] = stats.get("not_recorded", 0) + len(transport.not_recorded)

    return scan
