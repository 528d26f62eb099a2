"""Inventory loading: cascade, expansion, selection, and errors that name file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from tenken.agent.inventory import load_inventory
from tenken.checks.configfile import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "inventory.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_shipped_example_loads() -> None:
    inv = load_inventory(ROOT / "config/examples/inventory.yaml")
    by_group = {g: [h for h in inv.hosts if h.group == g] for g in inv.groups}
    assert len(by_group["ehr-servers"]) == 7  # two named + 10.10.1.30-34
    assert len(by_group["pacs"]) == 7  # /29 without network and broadcast, plus one IPv6 host
    assert all(h.transport == "winrm" and h.winrm and h.winrm.auth == "kerberos" for h in by_group["windows-clients"])
    assert {t.endpoint.target for t in inv.tls} >= {"ehr.hosp.example.jp:443", "mail.hosp.example.jp:587"}


def test_cascade_defaults_group_host(tmp_path: Path) -> None:
    p = write(tmp_path, """
defaults:
  user: audit
  identity: keys/audit
  timeouts: {connect: 5, deadline: 100}
groups:
  web:
    port: 2200
    timeouts: {command: 7}
    jump: jumper@bastion:2022
    hosts:
      - name: w1
        address: 10.0.0.1
        user: other
        timeouts: {deadline: 50}
      - root@10.0.0.2:2201
tls_defaults: {zone: closed}
tls_endpoints: ["ehr.local:8443"]
""")
    inv = load_inventory(p)
    w1, w2 = inv.hosts
    assert (w1.name, w1.user, w1.port, w1.connect_timeout, w1.command_timeout, w1.deadline) == ("w1", "other", 2200, 5, 7, 50)
    assert (w2.name, w2.user, w2.port, w2.deadline) == ("10.0.0.2", "root", 2201, 100)
    assert w1.identity == str(tmp_path / "keys/audit")  # relative to the inventory file
    assert str(w1.jump) == "jumper@bastion:2022"
    assert inv.tls[0].endpoint.port == 8443 and inv.tls[0].endpoint.zone.value == "closed"
    hosts, tls = inv.select(limit="w*")
    assert [h.name for h in hosts] == ["w1"] and tls == []
    hosts, _ = inv.select(group="web", limit="10.0.0.2")
    assert [h.name for h in hosts] == ["10.0.0.2"]
    with pytest.raises(ConfigError, match="no group named 'db'"):
        inv.select(group="db")


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        # an unknown field: file, line and dotted field
        ("groups:\n  web:\n    hosts:\n      - address: 10.0.0.1\n        prot: 22\n",
         r"inventory.yaml:5: groups.web.hosts.0.prot: unknown field"),
        # a wrong type
        ("defaults:\n  timeouts:\n    connect: soon\n", r"inventory.yaml:3: defaults.timeouts.connect: .*number"),
        # a literal password anywhere
        ("groups:\n  win:\n    transport: winrm\n    winrm:\n      password: Hosp1tal!\n",
         r"inventory.yaml:5: groups.win.winrm.password: passwords must not be in configuration files"),
        ("hosts:\n  - address: db\n    pass: x\n", r"inventory.yaml:3: hosts.0.pass: passwords must not be"),
        # a password by reference is still a password login, which SSH never does
        ("defaults:\n  password: env:PW\n", r"inventory.yaml:2: defaults.password: password authentication is not supported"),
        # credential fields must be references
        ("defaults:\n  winrm:\n    credential: Secret123\n",
         r"inventory.yaml:3: defaults.winrm.credential: must be a reference like env:VARNAME"),
        ("defaults:\n  passphrase: hunter2\n", r"inventory.yaml:2: defaults.passphrase: must be a reference"),
        # a bad address, a name on a range, an oversized range
        ("hosts:\n  - address: 10.0.0.999\n", r"inventory.yaml:2: hosts.0.address: .*not a host name"),
        ("hosts:\n  - name: web\n    address: 10.0.0.1-5\n", r"inventory.yaml:2: hosts.0.name: `name` is for a single host"),
        ("hosts:\n  - 10.0.0.0/16\n", r"inventory.yaml:2: hosts.0.address: .*at most 1024"),
        # plain-HTTP WinRM needs an explicit opt-in
        ("hosts:\n  - address: pc1\n    transport: winrm\n    winrm: {use_https: false, credential: env:W}\n",
         r"inventory.yaml:2: hosts.0.winrm.use_https: plain-HTTP WinRM"),
        ("hosts:\n  - address: pc1\n    transport: winrm\n", r"hosts.0.winrm.credential: ntlm needs a credential reference"),
        ("hosts:\n  - address: a\n    jump: 'x@:0'\n", r"inventory.yaml:3: hosts.0.jump: "),
        ("tls_endpoints:\n  - host: a\n    port: 0\n", r"inventory.yaml:3: tls_endpoints.0.port: "),
        ("- just\n- a list\n", r"expected a mapping at the top level"),
        ("groups:\n  web: [unclosed\n", r"inventory.yaml:\d+: invalid YAML"),
    ],
)
def test_errors_name_file_line_and_field(tmp_path: Path, text: str, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern) as exc:
        load_inventory(write(tmp_path, text))
    assert "Hosp1tal!" not in str(exc.value) and "hunter2" not in str(exc.value)


def test_duplicate_hosts_name_both_places(tmp_path: Path) -> None:
    p = write(tmp_path, """
groups:
  a:
    hosts:
      - 10.0.0.5
  b:
    hosts:
      - address: 10.0.0.4-6
""")
    with pytest.raises(ConfigError) as exc:
        load_inventory(p)
    msg = str(exc.value)
    assert "inventory.yaml:8: groups.b.hosts.0: host 10.0.0.5 (ssh port 22) is listed twice" in msg
    assert "first at " in msg and "inventory.yaml:5 (groups.a.hosts.0)" in msg
    # the same address on another port is another sshd, not a duplicate
    p.write_text("hosts:\n  - 10.0.0.5\n  - 10.0.0.5:2222\n")
    assert len(load_inventory(p).hosts) == 2


def test_several_errors_are_all_reported(tmp_path: Path) -> None:
    p = write(tmp_path, "hosts:\n  - address: 10.0.0.999\n  - address: 'bad host'\n")
    with pytest.raises(ConfigError) as exc:
        load_inventory(p)
    assert "inventory.yaml:2:" in str(exc.value) and "inventory.yaml:3:" in str(exc.value)
