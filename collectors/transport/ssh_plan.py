"""A whole scan's reads, stats, listings and commands as ONE POSIX sh script, and the parser of its answer.

The dry pass of the collectors (agent.scan._prefetch, SSHTransport.planning) records what each would ask;
`compile_plan` turns that into one script sent down the host's one shell, so a host costs a couple of
round trips instead of ~100. What it does on the target, and why:

- Files: the shell classifies every path with builtins (missing / denied / isdir / dangling); regular,
  non-empty files outside /proc and /sys are then read by ONE `tar -ch` process (binary-safe, framed by
  tar's own headers, symlinks followed). Pseudo-files (size 0 in stat: /proc, /sys) and files wanted with
  a small byte limit are read with `head -c`, one each. Without `tar`, every file uses `head -c`.
- Stats: one `stat -c` process for every planned path. Listings: shell globs, no process.
- Commands: each runs once, in order, with its own timeout (`timeout -k` when present, else a background
  `sleep; kill -9` watchdog); stdout is streamed as the record payload, stderr follows from a temp file.
- Records are framed by a random per-batch boundary (`"\\n" B " " op " " status " " path "\\n" payload`);
  the last one, `end N`, counts the records the shell wrote. The parser refuses the whole answer
  (BatchParseError) when the end record is missing (a cut stream), the count differs, a command record is
  not followed by its exit record, or the tar stream does not parse: a damaged answer is never used, the
  scan then asks on demand, as before.
"""

from __future__ import annotations

import io
import math
import shlex
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field

from tenken.collectors.transport.ssh_batch import BatchParseError, Record, new_boundary, parse_stat_line

#: Commands that cost the target seconds of CPU (package managers): batched only once their inputs are
#: known and never as a guessed fallback (Plan.heavy_ok, Plan.deferred). By name, not by timeout: a
#: fleet may give every command the same long timeout.
HEAVY = frozenset({"apt-get", "apt", "aptitude", "dnf", "yum", "microdnf", "zypper", "needs-restarting"})

#: Default read limit of Transport.read_file; planned reads with this limit go through tar (whole files).
WHOLE = 8 * 1024 * 1024

PRELUDE = r"""
NL='
'
n=0 TL= TAR= TO=
F='%f %u %g %s %Y %y %n'
h() { n=$((n + 1)); printf '\n%s %s %s %s\n' "$B" "$1" "$2" "$3"; }
gone() {
  if [ -L "$2" ]; then h "$1" dangling "$2"; return; fi
  d=${2%/*}; [ -n "$d" ] || d=/
  if [ -d "$d" ] && [ ! -x "$d" ]; then h "$1" denied "$2"; else h "$1" missing "$2"; fi
}
hd() {
  h r ok "$1"
  head -c "$2" -- "$1" 2>/dev/null || { rc=$?; h x "$rc" "$1"; head -c 1 -- "$1" 2>&1 >/dev/null; }
}
q() {
  if [ -d "$1" ]; then h r isdir "$1"
  elif [ ! -e "$1" ]; then gone r "$1"
  elif [ -p "$1" ] || [ -S "$1" ] || [ -c "$1" ] || [ -b "$1" ]; then h r special "$1"
  elif [ ! -r "$1" ]; then h r denied "$1"
  elif [ -n "$TAR" ] && [ "$2" = 0 ] && [ -f "$1" ] && [ -s "$1" ]; then
    case $1 in
    /proc/*|/sys/*|*"$NL"*) hd "$1" "$M" ;;
    *) h r tar "$1"; TL="$TL$1$NL" ;;
    esac
  elif [ "$2" = 0 ]; then hd "$1" "$M"
  else hd "$1" "$2"; fi
}
ls1() {
  if [ ! -e "$2" ]; then gone "$1" "$2"
  elif [ ! -d "$2" ]; then h "$1" notdir "$2"
  elif [ ! -r "$2" ] || [ ! -x "$2" ]; then h "$1" denied "$2"
  elif [ "$1" = S ]; then
    h S ok "$2"
    find "$2/." ! -name . -prune -exec stat -c "$F" -- {} + 2>/dev/null
  else
    h l ok "$2"
    for f in "$2"/* "$2"/.*; do
      b=${f##*/}
      case $b in .|..) continue ;; esac
      [ -e "$f" ] || [ -L "$f" ] || continue
      printf '%s\000' "$b"
    done
    if [ "$1" = L ]; then
      k=0
      for f in "$2"/* "$2"/.*; do
        case $f in *"$NL"*) continue ;; esac
        b=${f##*/}
        case $b in .|..) continue ;; esac
        [ -f "$f" ] || continue
        k=$((k + 1))
        [ "$k" -le 200 ] || break
        q "$f" 0
      done
    fi
  fi
}
st() {
  for p in "$@"; do [ -e "$p" ] || [ -L "$p" ] || gone s "$p"; done
  h V ok -
  stat -c "$F" -- "$@" 2>/dev/null
}
x() {
  if [ -z "$T" ]; then h c skip "$1"; return; fi
  h c ok "$1"
  if [ -n "$TO" ]; then ( eval "$3" ) 2>"$T/e"; rc=$?
  else
    ( eval "$3" ) 2>"$T/e" & p=$!
    ( sleep "$2"; kill -9 "$p" ) >/dev/null 2>&1 & w=$!
    wait "$p"; rc=$?
    kill "$w" 2>/dev/null
  fi
  h e "$rc" "$1"
  [ -s "$T/e" ] && cat -- "$T/e"
}
command -v tar >/dev/null 2>&1 && TAR=1
command -v timeout >/dev/null 2>&1 && TO=1
"""


@dataclass
class Plan:
    """What a dry pass asked for, deduplicated, in first-asked order."""

    reads: dict[str, int] = field(default_factory=dict)  # path -> largest byte limit asked
    lists: dict[str, str] = field(default_factory=dict)  # path -> l | L (L also reads the small files)
    dir_stats: dict[str, None] = field(default_factory=dict)  # S: stat every entry of a directory
    stats: dict[str, None] = field(default_factory=dict)
    commands: dict[str, tuple[float, tuple[str, ...], bool]] = field(default_factory=dict)  # line -> (timeout, argv, sudo)

    def add_ops(self, ops: Iterable[tuple[str, str]], max_bytes: int) -> None:
        for op, path in ops:
            if op == "r":
                self.reads[path] = max(self.reads.get(path, 0), max_bytes)
            elif op in ("l", "L"):
                if self.lists.get(path) != "L":
                    self.lists[path] = op
            elif op == "S":
                self.dir_stats[path] = None
            elif op == "s":
                self.stats[path] = None

    #: False in the first dry pass: package managers (HEAVY) wait for the second, which has the first
    #: batch's files, so a collector whose inputs were refused does not get its costly fallback batched
    #: (`apt-get -s` when the apt lists directory was not known yet).
    heavy_ok: bool = True
    #: package-manager commands a collector asked for after another of its commands was refused: most
    #: likely its fallback (`apt-get -s` when the list filter was refused). Not batched; asked on demand
    #: in the real pass only if still needed.
    deferred: dict[str, None] = field(default_factory=dict)
    _refused_here: bool = False

    def next_collector(self) -> None:
        self._refused_here = False

    def add_command(self, line: str, argv: tuple[str, ...], timeout: float, sudo: bool) -> None:
        heavy = bool(argv) and argv[0].rsplit("/", 1)[-1] in HEAVY
        refused_before, self._refused_here = self._refused_here, True
        if heavy and line not in self.commands and (not self.heavy_ok or refused_before):
            self.deferred[line] = None
            return
        old = self.commands.get(line)
        self.commands[line] = (max(timeout, old[0] if old else 0.0), argv, sudo)

    def __len__(self) -> int:
        return len(self.reads) + len(self.lists) + len(self.dir_stats) + len(self.stats) + len(self.commands)

    def deadline(self, base: float) -> float:
        """Client-side wait for the whole batch: every command's own timeout plus slack for the files."""
        return base + sum(math.ceil(t) + 3 for t, _, _ in self.commands.values())


def compile_plan(plan: Plan, boundary: str, *, expand_max: int, remote_line) -> str:  # type: ignore[no-untyped-def]
    """The script (POSIX sh). `remote_line(argv, timeout, sudo)` builds each command's line (ssh.build_command)."""
    q = shlex.quote
    lines = [f"B={boundary} M={WHOLE} E={expand_max}", PRELUDE.strip("\n"),
             "umask 077; T=${TMPDIR:-/tmp}/tenken-$B; mkdir -- \"$T\" 2>/dev/null || T="]
    for path, op in plan.lists.items():
        lines.append(f"ls1 {op} {q(path)}")
    for path in plan.dir_stats:
        lines.append(f"ls1 S {q(path)}")
    if plan.stats:
        lines.append("st " + " ".join(q(p) for p in plan.stats))
    for path, limit in plan.reads.items():
        lines.append(f"q {q(path)} {0 if limit >= WHOLE else int(limit)}")
    lines.append("[ -z \"$TL\" ] || { h T ok -; printf '%s' \"$TL\" | tar -chf - -T - 2>/dev/null; }")
    for i, (timeout, argv, sudo) in enumerate(plan.commands.values()):
        secs = max(1, math.ceil(timeout))
        lines.append(f"x {i} {secs} {q(remote_line(argv, timeout, sudo))}")
    lines.append('[ -z "$T" ] || rm -rf -- "$T"')
    lines.append('h end "$n" -')
    return "\n".join(lines) + "\n"


@dataclass
class Answer:
    """The parsed batch: file records in ssh_batch's shape, and each command's (exit, stdout, stderr) or None."""

    records: list[Record]
    #: command index -> (exit code, stdout, stderr); "timeout" when its own deadline killed it; absent: not run
    commands: dict[int, tuple[int, bytes, bytes] | str]
    tar_members: int = 0
    #: files whose whole content came back (through tar): no byte limit applies to them
    whole: set[str] = field(default_factory=set)


def parse_answer(out: bytes, boundary: str, n_commands: int) -> Answer:
    """Split the batch's output; raises BatchParseError for anything cut, miscounted or malformed."""
    marker = b"\n" + boundary.encode() + b" "
    chunks = out.split(marker)
    if chunks[0].strip():
        raise BatchParseError("batch answer does not start with a record")
    raw: list[tuple[str, str, str, bytes]] = []
    ended = False
    for chunk in chunks[1:]:
        header, nl, payload = chunk.partition(b"\n")
        parts = header.decode("utf-8", "surrogateescape").split(" ", 2)
        if not nl or len(parts) < 3:
            raise BatchParseError("malformed record header in the batch answer")
        op, status, path = parts
        if op == "end":
            if not status.isdigit() or int(status) != len(raw):
                raise BatchParseError(f"batch answer has {len(raw)} records, the target wrote {status}")
            ended = True
            break
        raw.append((op, status, path, payload))
    if not ended:
        raise BatchParseError("batch answer ended early (cut stream)")
    records: list[Record] = []
    commands: dict[int, tuple[int, bytes, bytes] | str] = {}
    tar_paths: list[str] = []
    tar_blob: bytes | None = None
    i = 0
    while i < len(raw):
        op, status, path, payload = raw[i]
        if op == "c":
            if status == "skip":
                i += 1
                continue
            if i + 1 >= len(raw) or raw[i + 1][0] != "e" or raw[i + 1][2] != path or not raw[i + 1][1].isdigit():
                raise BatchParseError(f"command {path}: no exit record")
            idx = int(path) if path.isdigit() else -1
            if not 0 <= idx < n_commands:
                raise BatchParseError(f"command record {path!r} names no planned command")
            rc = int(raw[i + 1][1])
            commands[idx] = "timeout" if rc in (124, 137) else (rc, payload, raw[i + 1][3])
            i += 2
            continue
        if op == "x" and records:
            prev = records[-1]
            msg = payload.decode("utf-8", "replace").strip() or f"read failed (exit {status})"
            records[-1] = Record(prev.op, "error", prev.path, prev.payload, error=msg)
        elif op == "r" and status == "tar":
            tar_paths.append(path)
        elif op == "T":
            tar_blob = payload
        elif op == "V":
            for line in payload.decode("utf-8", "surrogateescape").splitlines():
                st = parse_stat_line(line)
                if st is not None:
                    records.append(Record("s", "ok", st.path, line.encode("utf-8", "surrogateescape")))
        elif op in ("r", "l", "L", "S", "s"):
            records.append(Record(op, status, path, payload))
        else:
            raise BatchParseError(f"unknown record {op!r} in the batch answer")
        i += 1
    members = 0
    if tar_paths:
        if tar_blob is None:
            raise BatchParseError("files were queued for tar but no tar stream came back")
        contents = _untar(tar_blob)
        members = len(contents)
        for p in tar_paths:
            data = contents.get(p.lstrip("/"))
            if data is None:
                # tarfile ends quietly at a damaged header in mid-stream: a queued file missing from the
                # stream means the rest cannot be trusted either (a file deleted in between costs a retry)
                raise BatchParseError(f"{p}: queued for tar but not in the stream (damaged or cut)")
            records.append(Record("r", "ok", p, data))
    whole = {r.path for r in records if r.op == "r" and r.path in set(tar_paths)}
    return Answer(records, commands, members, whole)


def _untar(blob: bytes) -> dict[str, bytes]:
    """Member name -> content; hard links (one inode named twice) resolve to their first member's data."""
    out: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:") as tf:
            for m in tf:
                name = m.name.lstrip("/")
                if m.isreg():
                    f = tf.extractfile(m)
                    out[name] = f.read() if f is not None else b""
                elif m.islnk():
                    target = m.linkname.lstrip("/")
                    if target in out:
                        out[name] = out[target]
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BatchParseError(f"tar stream in the batch answer is damaged: {exc}") from exc
    return out


__all__ = ["Answer", "BatchParseError", "Plan", "compile_plan", "new_boundary", "parse_answer"]
