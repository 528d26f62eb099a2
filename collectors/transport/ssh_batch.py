"""Many file reads, listings and stats in one SSH round trip: a small POSIX sh helper and its parser.

Each command over SSH costs a channel, a remote fork of the login shell and a network round trip; a scan
reads hundreds of small files. The helper below runs once for a whole batch of operations and writes one
record per operation, delimited by a random per-call boundary, so file content needs no escaping and any
byte (including NUL) survives. Every record carries a status (ok / missing / denied / isdir / notdir /
error), so a failed read is never mistaken for an empty file (train's `cat || echo -n` mistake).

Output grammar (B = 32 random hex digits, chosen per call)::

    "\\n" B " " op " " status " " path "\\n" payload      (repeated)
    "\\n" B " end - -\\n"

Only POSIX sh builtins plus `head`, `stat` and `find` are used, so GNU, busybox and RHEL/Debian userlands
all work. Paths containing a newline are skipped in directory expansion (they cannot be a header).
"""

from __future__ import annotations

import posixpath
import re
import secrets
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from tenken.collectors.transport.base import FileStat

# The helper. Arguments: B MAX EXPAND_MAX then (op, path) pairs.
#   i -       : identity (uname -s, id -u)
#   r PATH    : read up to MAX bytes
#   s PATH    : lstat (GNU/busybox `stat -c`)
#   l PATH    : list names (NUL-separated)
#   L PATH    : list, then read each regular file in it (first 200) up to EXPAND_MAX bytes
#   S DIR     : lstat every entry of DIR in one `stat` call (lines: fields then the name)
HELPER = r"""
B=$1 M=$2 E=$3
shift 3
NL='
'
F='%f %u %g %s %Y %y %n'
h() { printf '\n%s %s %s %s\n' "$B" "$1" "$2" "$3"; }
gone() {
  if [ -L "$2" ]; then h "$1" dangling "$2"; return; fi
  d=${2%/*}; [ -n "$d" ] || d=/
  if [ -d "$d" ] && [ ! -x "$d" ]; then h "$1" denied "$2"; else h "$1" missing "$2"; fi
}
rd() {
  if [ -d "$2" ]; then h "$1" isdir "$2"
  elif [ ! -e "$2" ]; then gone "$1" "$2"
  elif [ -p "$2" ] || [ -S "$2" ] || [ -c "$2" ] || [ -b "$2" ]; then h "$1" special "$2"
  elif [ -r "$2" ]; then
    h "$1" ok "$2"
    head -c "$3" -- "$2" 2>/dev/null || { rc=$?; h x "$rc" "$2"; head -c 1 -- "$2" 2>&1 >/dev/null; }
  else h "$1" denied "$2"; fi
}
while [ $# -gt 1 ]; do
  o=$1 p=$2
  shift 2
  case $o in
  i) h i ok -; uname -s; id -u ;;
  r) rd r "$p" "$M" ;;
  s)
    if [ -e "$p" ] || [ -L "$p" ]; then
      if st=$(stat -c "$F" -- "$p" 2>&1); then h s ok "$p"; else h s error "$p"; fi
      printf '%s' "$st"
    else gone s "$p"; fi ;;
  l|L|S)
    if [ ! -e "$p" ]; then gone "$o" "$p"
    elif [ ! -d "$p" ]; then h "$o" notdir "$p"
    elif [ ! -r "$p" ] || [ ! -x "$p" ]; then h "$o" denied "$p"
    elif [ "$o" = S ]; then
      h S ok "$p"
      find "$p/." ! -name . -prune -exec stat -c "$F" -- {} + 2>/dev/null
    else
      h l ok "$p"
      for f in "$p"/* "$p"/.*; do
        b=${f##*/}
        case $b in .|..) continue ;; esac
        [ -e "$f" ] || [ -L "$f" ] || continue
        printf '%s\000' "$b"
      done
      if [ "$o" = L ]; then
        n=0
        for f in "$p"/* "$p"/.*; do
          case $f in *"$NL"*) continue ;; esac
          b=${f##*/}
          case $b in .|..) continue ;; esac
          [ -f "$f" ] || continue
          n=$((n + 1))
          [ "$n" -le 200 ] || break
          rd r "$f" "$E"
        done
      fi
    fi ;;
  esac
done
h end - -
"""

#: Bytes read per file when a listing pre-reads a directory's files; bigger files are read on demand.
EXPAND_MAX = 256 * 1024


@dataclass(frozen=True)
class Record:
    op: str
    status: str
    path: str
    payload: bytes
    error: str | None = None  # a read that started and then failed (the `x` trailer)


class BatchParseError(ValueError):
    """The helper's output was cut short or malformed (connection lost mid-batch, no POSIX shell)."""


def new_boundary() -> str:
    return secrets.token_hex(16)


def helper_command(boundary: str, ops: Sequence[tuple[str, str]], *, max_bytes: int, sudo: bool = False) -> str:
    """The remote command line (POSIX sh syntax) for a batch; `sudo` runs the helper as root via `sudo -n`."""
    args = [boundary, str(max_bytes), str(EXPAND_MAX + 1)]
    for op, path in ops:
        args += [op, path]
    prefix = "sudo -n -- " if sudo else ""
    return (
        "LC_ALL=C LANG=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; export LC_ALL LANG PATH; "
        f"exec {prefix}sh -c {shlex.quote(HELPER)} tenken-batch {shlex.join(args)}"
    )


def parse_records(out: bytes, boundary: str) -> list[Record]:
    """Split helper output into records. Total: raises BatchParseError only, for a missing end marker."""
    marker = b"\n" + boundary.encode() + b" "
    chunks = out.split(marker)
    records: list[Record] = []
    ended = False
    for chunk in chunks[1:]:
        header, _, payload = chunk.partition(b"\n")
        parts = header.decode("utf-8", "surrogateescape").split(" ", 2)
        if len(parts) < 3:
            continue
        op, status, path = parts
        if op == "end":
            ended = True
            break
        if op == "x" and records:
            prev = records[-1]
            msg = payload.decode("utf-8", "replace").strip() or f"read failed (exit {status})"
            records[-1] = Record(prev.op, "error", prev.path, prev.payload, error=msg)
            continue
        records.append(Record(op, status, path, payload))
    if not ended:
        raise BatchParseError("batch output ended early (connection lost, or the target has no POSIX shell)")
    return records


_STAT_LINE = re.compile(
    r"^([0-9a-fA-F]+) (\d+) (\d+) (\d+) (-?\d+) (\S+ \S+)(?: ([+-]\d{4}))? (.+)$"
)


def parse_stat_line(line: str, path: str | None = None) -> FileStat | None:
    """One `stat -c '%f %u %g %s %Y %y %n'` line -> FileStat; None when it does not parse.

    `%Y` is whole seconds; the nanoseconds come from `%y` so mtime matches os.lstat's float exactly.
    """
    m = _STAT_LINE.match(line)
    if m is None:
        return None
    mode_hex, uid, gid, size, secs, human, _tz, name = m.groups()
    mtime = float(int(secs))
    frac = human.rpartition(".")[2] if "." in human.split(" ")[-1] else ""
    if frac.isdigit():
        mtime = int(secs) + int(frac[:9].ljust(9, "0")) * 1e-9
    mode = int(mode_hex, 16)
    import stat as s

    return FileStat(
        path=path or name,
        mode=mode,
        uid=int(uid),
        gid=int(gid),
        size=int(size),
        mtime=mtime,
        is_dir=s.S_ISDIR(mode),
        is_file=s.S_ISREG(mode),
        is_symlink=s.S_ISLNK(mode),
    )


def parse_listing(payload: bytes) -> list[str]:
    return sorted(n.decode("utf-8", "surrogateescape") for n in payload.split(b"\0") if n)


def parse_dir_stats(payload: bytes, directory: str) -> dict[str, FileStat]:
    """`S DIR` output -> {full path: FileStat}; names are the last field (find prints DIR/./name)."""
    out: dict[str, FileStat] = {}
    for line in payload.decode("utf-8", "surrogateescape").splitlines():
        st = parse_stat_line(line)
        if st is None:
            continue
        name = st.path.rsplit("/", 1)[-1]
        full = posixpath.join(directory, name)
        out[full] = FileStat(full, st.mode, st.uid, st.gid, st.size, st.mtime, st.is_dir, st.is_file, st.is_symlink)
    return out
