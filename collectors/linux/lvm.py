"""LVM metadata (/etc/lvm/backup, /etc/lvm/archive) read offline: which logical volumes sit on dm-crypt.

LVM on LUKS (the Debian and Ubuntu installers' "guided - use entire disk and set up encrypted LVM", and
Fedora/RHEL's encrypted default) mounts /dev/mapper/<vg>-<lv>, which has no crypttab entry of its own;
the crypttab entry names the LUKS device *under* the volume group. vgcfgbackup writes the group's
metadata in LVM's text format (lvm.conf(5) "Text Format Volume Group") after every change, and each
physical volume carries `device = "/dev/mapper/…"  # Hint only`, the path it was last seen at. A PV whose
hint is a crypttab target (`nvme0n1p3_crypt`) or a `luks-<UUID>` mapping is on dm-crypt; a logical
volume whose extents all lie on such PVs is encrypted. The hint is the only link an offline image keeps,
so the result says where it came from.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]=,]|[^\s{}\[\]=,"#]+|#[^\n]*')


class LvmError(ValueError):
    """Metadata that is not LVM's text format (or is truncated)."""


def parse_lvm_text(text: str) -> dict[str, Any]:
    """LVM's text metadata as nested dicts: sections `name { … }`, `key = value` (string, number, [list])."""
    toks = [t for t in _TOKEN.findall(text) if not t.startswith("#")]
    pos = 0

    def value() -> Any:
        nonlocal pos
        t = toks[pos]
        pos += 1
        if t == "[":
            out = []
            while toks[pos] != "]":
                if toks[pos] == ",":
                    pos += 1
                    continue
                out.append(value())
            pos += 1
            return out
        if t.startswith('"'):
            return t[1:-1].replace('\\"', '"')
        try:
            return int(t)
        except ValueError:
            return t

    def section(top: bool) -> dict[str, Any]:
        nonlocal pos
        out: dict[str, Any] = {}
        while pos < len(toks):
            t = toks[pos]
            if t == "}":
                if top:
                    raise LvmError("unbalanced '}'")
                pos += 1
                return out
            if pos + 1 >= len(toks):
                raise LvmError(f"truncated after {t!r}")
            nxt = toks[pos + 1]
            pos += 2
            if nxt == "{":
                out[t] = section(False)
            elif nxt == "=":
                out[t] = value()
            else:
                raise LvmError(f"unexpected {nxt!r} after {t!r}")
        if not top:
            raise LvmError("section not closed")
        return out

    try:
        return section(True)
    except IndexError:
        raise LvmError("truncated metadata") from None


class LogicalVolume(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    vg: str
    lv: str
    pvs: list[str] = Field(default_factory=list)  # PV device hints its extents lie on
    encrypted: bool | None = None  # None: some PV could not be placed
    via: str = ""

    @property
    def dm_name(self) -> str:
        """The device-mapper name: /dev/mapper/<vg>-<lv> with '-' doubled inside each part."""
        return f"{self.vg.replace('-', '--')}-{self.lv.replace('-', '--')}"


def _pv_crypt(hint: str | None, crypt_names: set[str]) -> bool | None:
    if not hint:
        return None
    if hint.startswith("/dev/mapper/"):
        name = hint.removeprefix("/dev/mapper/")
        if name in crypt_names or name.startswith("luks-"):
            return True
        return None  # another device-mapper device (multipath, a nested LV): not provable
    if re.match(r"^/dev/(sd[a-z]+|vd[a-z]+|xvd[a-z]+|hd[a-z]+|nvme\d+n\d+|mmcblk\d+)(p?\d+)?$", hint):
        return False  # a raw disk or partition
    return None


def logical_volumes(meta: dict[str, Any], crypt_names: set[str], source: str) -> list[LogicalVolume]:
    """Every LV of the volume groups in one metadata file, with whether all its PVs are on dm-crypt."""
    out = []
    for vg, body in meta.items():
        if not isinstance(body, dict) or "physical_volumes" not in body:
            continue
        pvs = {name: (pv.get("device") if isinstance(pv, dict) else None) for name, pv in body["physical_volumes"].items()}
        for lv, lvb in (body.get("logical_volumes") or {}).items():
            if not isinstance(lvb, dict):
                continue
            used: list[str] = []
            for seg in (v for k, v in lvb.items() if k.startswith("segment") and isinstance(v, dict)):
                stripes = seg.get("stripes")
                if isinstance(stripes, list):
                    used += [s for s in stripes[::2] if isinstance(s, str)]
                else:  # raid/thin/cache segments point at sub-LVs: judge by every PV of the group
                    used += list(pvs)
            names = sorted(set(used) or set(pvs))
            states = [_pv_crypt(pvs.get(n), crypt_names) for n in names]
            hints = [pvs.get(n) or n for n in names]
            if states and all(s is True for s in states):
                enc, via = True, f"LVM {source}: {vg}/{lv} on {', '.join(str(h) for h in hints)} (dm-crypt)"
            elif any(s is False for s in states):
                enc, via = False, f"LVM {source}: {vg}/{lv} on unencrypted {', '.join(str(h) for h, s in zip(hints, states, strict=True) if s is False)}"
            else:
                enc, via = None, f"LVM {source}: {vg}/{lv} on {', '.join(str(h) for h in hints)} (not provably dm-crypt)"
            out.append(LogicalVolume(vg=vg, lv=lv, pvs=[str(h) for h in hints], encrypted=enc, via=via))
    return out
