"""Pending Debian/Ubuntu updates of a remote host without running apt on it.

`apt-get -s dist-upgrade` costs the target 2-3 CPU-seconds (it rebuilds pkgcache.bin when none is kept)
and reading ~50 MB of lists over SSH costs more still. Yet the computation (apt_lists.compute_pending)
needs only a few lines of each file: Package/Version/Architecture of the installed packages' stanzas,
the Release header fields, dpkg's Package/Status/Version/Architecture. So one POSIX sh script, sent as
one command through the transport, filters them on the target (grep, then awk keeping only stanzas of
names in dpkg status; compressed lists are decoded by apt's own `apt-helper cat-file`, which reads every
compression apt writes), frames the pieces with a random boundary, and streams them back gzipped when
gzip exists (a few tens of KB instead of megabytes). The scanner then runs the same computation as for
the local host. Any piece the target could not produce becomes a `fallback` reason, never a silent pass:
the caller then runs `apt-get -s` as before.

Frame grammar (B = 32 random hex digits)::

    "\\n" B " " kind " " name "\\n" payload     kind: status | release | list | mtime | err | end
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from tenken.collectors.linux.apt_lists import (
    DPKG_STATUS,
    LISTS_DIR,
    Archive,
    ListDecodeError,
    ListFile,
    ListsResult,
    ListState,
    ReleaseInfo,
    classify_lists,
    decompress,
    default_priority,
    finish_computation,
    is_security_release,
    parse_release,
    parse_status,
    scan_packages,
)
from tenken.collectors.probe import Probe

# Bounds what a hostile or broken target can make the scanner hold (the filtered stream is ~100 KB).
MAX_STREAM = 64 * 1024 * 1024

#: One random boundary per scanner process, not per call: the command line must be the same in the dry
#: pass and the real one, so the SSH transport's one-batch answer (ssh_plan) serves it. It stays unknown
#: to the files being framed (it is chosen after they were written).
_BOUNDARY = secrets.token_hex(16)

#: The target-side filter. Arguments: B, then `R:name` (Release file) / `L:name` (Packages list) items.
SCRIPT = r"""
B=$1; shift
S=/var/lib/dpkg/status
h() { printf '\n%s %s %s\n' "$B" "$1" "$2"; }
dec() {
  case $1 in
  *.lz4|*.gz|*.xz|*.bz2|*.zst|*.lzma)
    if [ -x /usr/lib/apt/apt-helper ]; then /usr/lib/apt/apt-helper cat-file "$1"
    else case $1 in
      *.lz4) lz4cat -- "$1" ;; *.gz) gzip -dc -- "$1" ;; *.xz|*.lzma) xz -dc -- "$1" ;;
      *.bz2) bzip2 -dc -- "$1" ;; *.zst) zstd -dc -- "$1" ;;
    esac; fi ;;
  *) cat -- "$1" ;;
  esac
}
run() {
  cd /var/lib/apt/lists || { h err lists; h end -; return; }
  if [ -r "$S" ]; then
    h status -
    grep -E '^(Package|Status|Version|Architecture):|^$' "$S"
  else h err status; fi
  for a in "$@"; do
    f=${a#?:}
    case $a in
    R:*) if [ -r "$f" ]; then h release "$f"; grep -v '^[[:space:]]' -- "$f"; else h err "$f"; fi ;;
    L:*)
      if [ -r "$f" ]; then
        h list "$f"
        { dec "$f" 2>/dev/null || printf '\n%s err %s\n' "$B" "$f"; } \
          | grep -E "^(Package|Version|Architecture):|^\$|^$B " \
          | awk -v b="$B" 'FNR == NR { if ($1 == "Package:") w[$2] = 1; next }
              index($0, b) == 1 { print ""; print; next }
              $1 == "Package:" { k = ($2 in w) }
              k { print }
              $0 == "" { k = 0 }' "$S" -
      else h err "$f"; fi ;;
    esac
  done
  h mtime -
  stat -c '%Y %n' -- *_Packages* 2>/dev/null
  h end -
}
if command -v gzip >/dev/null 2>&1; then run "$@" | gzip -1; else run "$@"; fi
"""


def parse_stream(out: bytes, boundary: str) -> dict[tuple[str, str], bytes]:
    """Split the (decompressed) stream into {(kind, name): payload}. Raises ListDecodeError when cut short."""
    marker = b"\n" + boundary.encode() + b" "
    records: dict[tuple[str, str], bytes] = {}
    ended = False
    for chunk in out.split(marker)[1:]:
        header, _, payload = chunk.partition(b"\n")
        kind, _, name = header.decode("utf-8", "surrogateescape").partition(" ")
        if kind == "end":
            ended = True
            break
        if kind == "err":
            records[("err", name)] = b""
            continue
        records[(kind, name)] = payload
    if not ended:
        raise ListDecodeError("the target's filtered apt data ended early (command cut off or failed)")
    return records


def parse_mtimes(payload: bytes) -> dict[str, datetime]:
    out: dict[str, datetime] = {}
    for line in payload.decode("utf-8", "replace").splitlines():
        secs, _, name = line.partition(" ")
        if secs.lstrip("-").isdigit() and name:
            out[name] = datetime.fromtimestamp(int(secs), UTC)
    return out


def _decode_answer(data: bytes, boundary: str) -> dict[tuple[str, str], bytes]:
    if data[:2] == b"\x1f\x8b":
        data = decompress(".gz", data, MAX_STREAM)
    return parse_stream(data, boundary)


def collect_apt_lists_remote(p: Probe) -> ListsResult:
    """As collect_apt_lists, with the filtering done on the target in one command (see the module doc)."""
    names = p.listdir(LISTS_DIR)
    lists = classify_lists(names or [])
    if not lists:
        return ListsResult(absent=True, fallback=f"no apt package lists in {LISTS_DIR} (apt-get update never ran, or they were cleaned)")
    boundary = _BOUNDARY
    args = [f"R:{r}" for r in dict.fromkeys(lf.release for lf in lists if lf.release)] + [f"L:{lf.name}" for lf in lists]
    res = p.command(["sh", "-c", SCRIPT, "tenken-apt-filter", boundary, *args], keep_raw=False, timeout=120.0)
    if res is None:
        return ListsResult(fallback="the filtering script could not run on the target")
    try:
        rec = p.compute(_decode_answer, res.stdout, boundary)
    except ListDecodeError as exc:
        return ListsResult(fallback=f"{exc} (exit {res.exit_code})")
    failed = sorted(name for kind, name in rec if kind == "err")
    if failed:
        return ListsResult(fallback=f"the target could not read or decode: {', '.join(failed)}")
    status = rec.get(("status", "-"))
    if status is None:
        return ListsResult(absent=True, fallback=f"{DPKG_STATUS} could not be read")
    installed = p.parsed(parse_status, status)
    if not installed:
        return ListsResult(fallback=f"{DPKG_STATUS} lists no installed package")
    wanted = {i.name.encode("utf-8") for i in installed}
    mtimes = parse_mtimes(rec.get(("mtime", "-"), b""))
    releases: dict[str, ReleaseInfo] = {
        name: parse_release(payload.decode("utf-8", "replace")) for (kind, name), payload in rec.items() if kind == "release"
    }
    offers: list[tuple[Archive, list[tuple[str, str, str]]]] = []
    states: list[ListState] = []
    for lf in lists:
        payload = rec.get(("list", lf.name))
        if payload is None:
            return ListsResult(fallback=f"{LISTS_DIR}/{lf.name}: no data from the target")
        rel = releases.get(lf.release) if lf.release else None
        offers.append((_archive(lf, rel), p.compute(scan_packages, payload, wanted)))
        states.append(_state(lf, rel, _archive(lf, rel), mtimes.get(lf.name)))
    return finish_computation(p, installed, offers, states, how=f"computed on the scanner from lines filtered on the target, {len(res.stdout)} bytes")


def _archive(lf: ListFile, rel: ReleaseInfo | None) -> Archive:
    return Archive(list=lf, release=rel, security=rel is not None and is_security_release(rel), priority=default_priority(rel))


def _state(lf: ListFile, rel: ReleaseInfo | None, archive: Archive, downloaded: datetime | None) -> ListState:
    return ListState(
        name=lf.name, suite=(rel.suite or rel.codename) if rel else "", origin=archive.label,
        security=archive.security, not_automatic=bool(rel and rel.not_automatic), priority=archive.priority,
        published=rel.date if rel else None, downloaded=downloaded,
    )
