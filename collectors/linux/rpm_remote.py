"""Pending dnf updates of a remote RHEL-family host without running dnf on it.

The repodata dnf caches is tens of MB per repository (a RHEL 9 AppStream primary.xml is ~60 MB as text), but
the computation (rpm_pending.compute) needs only the packages whose name is installed or that obsolete an
installed name, the security advisories naming such packages, and the module streams' artifacts of those
names. So one POSIX sh script, sent as one command through the transport, lists the installed packages
with `rpm -qa` (the rpm database is binary: rpm reads it in a fraction of what dnf's solver load costs),
decompresses each cached file with the host's own gzip/xz/bzip2/zstd, keeps only those lines with awk
(the kept lines are unchanged, so the scanner's parsers read them as they read a whole file), frames the
pieces with a random boundary and streams them back gzipped. awk also counts every package it read: the
scanner compares that with the count primary.xml declares, so a file the filter could not follow (not
pretty-printed, cut) is refused instead of read as "nothing pending".

Frame grammar (B = 32 random hex digits), as apt_remote's::

    "\\n" B " " kind " " name "\\n" payload     kind: installed | mtime | repomd | primary | updateinfo | modules | err | end
"""

from __future__ import annotations

from collections.abc import Callable

from tenken.collectors.linux.apt_lists import ListDecodeError
from tenken.collectors.linux.apt_remote import _BOUNDARY, _decode_answer
from tenken.collectors.linux.rpm_files import (
    RPM_QF,
    RpmConfig,
    RpmResult,
    choose_cache,
    parse_rpm_qa,
    read_config,
    read_listing,
)
from tenken.collectors.linux.rpm_pending import RepoInput, compute
from tenken.collectors.linux.rpm_repodata import (
    Nevra,
    RepodataError,
    parse_modules,
    parse_primary,
    parse_repomd,
    parse_updateinfo,
)
from tenken.collectors.probe import Probe
from tenken.collectors.transport.base import CommandResult

#: Pieces of the target-side scripts (yum_remote.py builds RHEL 7's from the same ones).
SH_HEAD = r"""
B=$1; shift
h() { printf '\n%s %s %s\n' "$B" "$1" "$2"; }
dec() {
  case $1 in
  *.gz) gzip -dc -- "$1" ;; *.xz) xz -dc -- "$1" ;; *.bz2) bzip2 -dc -- "$1" ;; *.zst) zstd -dc -- "$1" ;;
  *) cat -- "$1" ;;
  esac
}
"""
#: awk: keep a primary.xml's <package> blocks of installed (or obsoleted installed) names, count every one.
#: Most of a package's lines are provides/requires entries and files: they are dropped by a substring test
#: first (half the CPU of trying every pattern on them: 0.17 against 0.31 CPU-s for a 42 MB primary, mawk).
AWK_PRIMARY = r"""P='FNR == NR { w[$1] = 1; next }
index($0, b) == 1 { print ""; print; next }
!ip { if ($0 ~ /<package[ >]/) { ip = 1; k = 0; ob = 0; buf = $0 } else if ($0 ~ /<metadata[ >]/) { print }; next }
ob { if (index($0, "</rpm:obsoletes>")) { ob = 0 } else if (index($0, "<rpm:entry ")) { e = $0; sub(/.*name="/, "", e); sub(/".*/, "", e); if (e in w) k = 1 }; buf = buf "\n" $0; next }
index($0, "<rpm:entry ") || index($0, "<file") { next }
index($0, "</package>") { ip = 0; seen++; if (k) { print buf; print }; next }
/^[ \t]*<name>/ { n = $0; sub(/^[ \t]*<name>/, "", n); sub(/<\/name>.*/, "", n); if (n in w) k = 1; buf = buf "\n" $0; next }
/^[ \t]*<arch>/ || /^[ \t]*<version[ >]/ { buf = buf "\n" $0; next }
index($0, "<rpm:obsoletes>") { ob = 1; buf = buf "\n" $0; next }
END { printf "<tenken-seen n=\"%d\"/>\n", seen }'
"""
#: awk: keep the security <update> blocks of updateinfo.xml that name an installed package
AWK_UPDATEINFO = r"""U='FNR == NR { w[$1] = 1; next }
index($0, b) == 1 { print ""; print; next }
/<update[ >]/ { u = ($0 ~ /type="security"/); np = 0; buf = $0; next }
/<\/update>/ { if (u && np) { print buf; print }; u = 0; next }
!u { next }
/<id>/ || /<severity>/ || /<collection[ >]/ || /<\/collection>/ || /<module / { buf = buf "\n" $0; next }
/<package / { n = $0; sub(/.*[ \t]name="/, "", n); sub(/".*/, "", n); if (n in w) { buf = buf "\n" $0; np++ }; next }'
"""
AWK_MODULES = r"""M='FNR == NR { w[$1] = 1; next }
index($0, b) == 1 { print ""; print; next }
/^---/ || /^document:/ || /^\.\.\./ { print; next }
/^  [a-z_]+:/ { s = $1; print; next }
s != "artifacts:" { next }
/^[ \t]*[a-z_]+:[ \t]*$/ { print; next }
/^[ \t]*- / { a = $0; sub(/^[ \t]*- */, "", a); gsub(/["\047]/, "", a); n = a; sub(/-[^-]*-[^-]*$/, "", n); if (n in w) print; next }'
"""
SH_FILTER = r"""filt() {
  { dec "$1" 2>/dev/null || printf '\n%s err %s\n' "$B" "$1"; } | awk -v b="$B" "$2" "$T" -
}
"""
#: the installed packages first (rpm_files.RPM_QF): the awk filters read their names back from "$T"
SH_INSTALLED = ("  h installed -\n"
                f"  rpm -qa --qf '{RPM_QF}' 2>/dev/null > \"$T\" || {{ h err installed; h end -; return; }}\n"
                '  cat "$T"')
SH_TAIL = r"""umask 077
T=$(mktemp 2>/dev/null) || T=/tmp/tenken-rpm.$$
trap 'rm -f "$T"' EXIT
if command -v gzip >/dev/null 2>&1; then run "$@" | gzip -1; else run "$@"; fi
"""

#: The target-side filter. Arguments: B, then repository cache directories (`<cache root>/<id>-<hash>`).
SCRIPT = SH_HEAD + AWK_PRIMARY + AWK_UPDATEINFO + AWK_MODULES + SH_FILTER + "run() {\n" + SH_INSTALLED + r"""
  for d in "$@"; do
    [ -r "$d/repodata/repomd.xml" ] || continue
    h mtime "$d"; stat -c %Y -- "$d/repodata/repomd.xml"
    h repomd "$d"; cat -- "$d/repodata/repomd.xml"
    for f in "$d"/repodata/*; do
      case $f in
      *.sqlite*) ;;
      *-primary.xml*) h primary "$f"; filt "$f" "$P" ;;
      *-updateinfo.xml*) h updateinfo "$f"; filt "$f" "$U" ;;
      *-modules.yaml*) h modules "$f"; filt "$f" "$M" ;;
      esac
    done
  done
  h end -
}
""" + SH_TAIL


def collect_rpm_remote(p: Probe) -> RpmResult:
    """As rpm_files.collect_rpm_files, with the repodata filtered on the target in one command (module doc).

    Every cache directory is filtered, not only the enabled repositories' ones: the command must not wait for
    the .repo files (one round trip less); the scanner then takes the enabled ones."""
    listing = read_listing(p)
    res = None
    if listing.dirs:
        res = p.command(["sh", "-c", SCRIPT, "tenken-rpm-filter", _BOUNDARY, *listing.dirs], keep_raw=False, timeout=120.0)
    cfg = read_config(p, listing)
    if isinstance(cfg, str):
        return RpmResult(fallback=cfg)
    if res is None:
        why = choose_cache(cfg, lambda d: None)
        return RpmResult(config=cfg, fallback=why or "the filtering script could not run on the target")
    got = read_answer(p, res, cfg, lambda mtimes: choose_cache(cfg, mtimes.get))
    if isinstance(got, RpmResult):
        return got
    rec, _mtimes, installed = got
    wanted = {n.name for n in installed}
    inputs = []
    for repo in cfg.repos:
        d = cfg.cache[repo.id]
        try:
            hrefs = parse_repomd(rec.get(("repomd", d), b""))
            parts = {}
            for kind in ("primary", "updateinfo", "modules"):
                href = hrefs.get(kind)
                if href is None:
                    continue
                payload = rec.get((kind, f"{d}/{href}"))
                if payload is None:
                    return RpmResult(config=cfg, fallback=f"{d}/{href}: named by repomd.xml but not in the cache")
                if kind == "primary":
                    parts[kind] = p.compute(parse_primary, [payload], wanted).packages
                elif kind == "updateinfo":
                    parts[kind] = p.compute(parse_updateinfo, [payload], wanted)
                else:
                    parts[kind] = p.compute(parse_modules, payload.decode("utf-8", "replace").splitlines())
        except RepodataError as exc:
            return RpmResult(config=cfg, fallback=f"{d}: {exc}")
        inputs.append(RepoInput(repo, parts["primary"], parts.get("updateinfo", []), parts.get("modules")))  # type: ignore[arg-type]
    comp = p.compute(compute, installed, inputs, cfg.main, cfg.modules)
    return RpmResult(computation=comp, config=cfg, how=f"filtered on the target, computed on the scanner, {len(res.stdout)} bytes")


Answer = dict[tuple[str, str], bytes]


def read_answer(p: Probe, res: CommandResult, cfg: RpmConfig, choose: Callable[[dict[str, float]], str | None],
                *, hint: str = "") -> tuple[Answer, dict[str, float], list[Nevra]] | RpmResult:
    """The framed answer of a filter script (this module's or yum_remote's): its records, each cache
    directory's repomd.xml mtime and the installed packages; or the RpmResult saying why it cannot be used
    (undecodable, an enabled repository not cached, a chosen file the target could not read, no package)."""
    try:
        rec = p.compute(_decode_answer, res.stdout, _BOUNDARY)
    except ListDecodeError as exc:
        return RpmResult(config=cfg, fallback=f"{exc} (exit {res.exit_code})")
    mtimes = {name: float(v) for (kind, name), payload in rec.items() if kind == "mtime" and (v := payload.strip()).isdigit()}
    why = choose(mtimes)
    if why is not None:
        return RpmResult(config=cfg, fallback=why)
    chosen = set(cfg.cache.values())
    failed = sorted(name for kind, name in rec if kind == "err" and (name == "installed" or any(name.startswith(f"{d}/") for d in chosen)))
    if failed:
        return RpmResult(config=cfg, fallback=f"the target could not read or decode: {', '.join(failed)}{hint}")
    installed = parse_rpm_qa(rec.get(("installed", "-"), b"").decode("utf-8", "replace"))
    if not installed:
        return RpmResult(config=cfg, fallback="`rpm -qa` on the target listed no package")
    return rec, mtimes, installed
