"""Clause ids for the host protections, chosen once for every OS (from the guideline seed).

- Host firewall: SO-7-12 (remote login only through properly managed paths: the host's own inbound
  restriction) and SO-8-3 (stop threats spreading through network traffic). SO-13-5 is about routers and
  network devices, not hosts, so it is not claimed. SO-7-4 (personal firewall on devices taken off-site)
  is added for portable devices only.
- USB storage: SO-8-1 (media not properly managed are checked before use). SO-7-3 asks that devices
  taken off-site be encrypted or password-protected; blocking USB storage is not what it asks.
"""

from __future__ import annotations

FIREWALL = ("SO-7-12", "SO-8-3")
FIREWALL_PORTABLE = ("SO-7-4",)
USB_STORAGE = ("SO-8-1",)


def firewall_clauses(portable: bool | None) -> list[str]:
    return [*FIREWALL, *(FIREWALL_PORTABLE if portable else ())]
