"""The fleet inventory (YAML): which hosts and TLS endpoints to audit, and how to reach each.

Settings cascade defaults -> group -> host. Addresses may be names, IPv4/IPv6 addresses, CIDR blocks or
`a.b.c.10-20` ranges (expanded, capped). Every error names the file, the line and the field, because
hospital IT staff edit this file by hand. Passwords never appear in it: a password-like key with a literal
value is refused, and credentials are references (`env:VAR`, `keyring:SERVICE/USER`) resolved at use.

A host listed twice (even through overlapping ranges) is an error naming both places: scanning it twice
with possibly different users, keys or policies would make the report ambiguous.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from tenken.agent.credentials import is_reference
from tenken.checks.configfile import ConfigError, _line_of, read_yaml
from tenken.collectors.tls.spec import TlsEndpoint
from tenken.collectors.transport.ssh import Destination, parse_destination

MAX_PER_ENTRY = 1024
MAX_HOSTS = 4096
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_COMMAND_TIMEOUT = 30.0
DEFAULT_DEADLINE = 300.0

# keys that hold (or look like they hold) a secret value
_PASSWORDISH = re.compile(r"^(pass|passwd|password|pwd|secret|pin)$|password|passwd", re.I)
_REFERENCE_FIELDS = {"passphrase", "credential"}
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Timeouts(_Model):
    connect: float | None = Field(None, gt=0, description="TCP connect + SSH banner + authentication, seconds")
    command: float | None = Field(None, gt=0, description="each remote command, seconds")
    deadline: float | None = Field(None, gt=0, description="the whole host scan, seconds")


class WinRMSettings(_Model):
    port: int | None = Field(None, ge=1, le=65535)
    auth: Literal["ntlm", "kerberos", "credssp"] | None = None
    username: str | None = None
    credential: str | None = Field(None, description="reference to the password: env:VAR or keyring:SERVICE/USER")
    use_https: bool | None = None
    ca_file: str | None = None
    insecure_http: bool | None = None


class TlsDefaults(_Model):
    zone: str | None = None
    ca_file: str | None = None
    timeout: float | None = Field(None, gt=0)
    client_cert: str | None = None
    client_key: str | None = None
    port: int | None = Field(None, ge=1, le=65535)


class Settings(_Model):
    """What a defaults block, a group or a host may set; unset fields inherit."""

    user: str | None = None
    port: int | None = Field(None, ge=1, le=65535, description="SSH port")
    transport: Literal["ssh", "winrm"] | None = None
    identity: str | None = Field(None, description="SSH private key file")
    passphrase: str | None = Field(None, description="reference to the key's passphrase")
    agent: bool | None = Field(None, description="also try ssh-agent keys")
    jump: str | None = Field(None, description="ProxyJump host: user@host:port")
    known_hosts: str | None = None
    timeouts: Timeouts | None = None
    policy: str | None = Field(None, description="policy file for these hosts (instead of --policy)")
    winrm: WinRMSettings | None = None

    @field_validator("jump")
    @classmethod
    def _jump(cls, v: str | None) -> str | None:
        if v is not None:
            parse_destination(v)
        return v


class HostEntry(Settings):
    name: str | None = None
    address: str | None = None


class Group(Settings):
    description: str | None = None
    hosts: list[HostEntry] = Field(default_factory=list)
    tls_defaults: TlsDefaults | None = None
    tls_endpoints: list[dict[str, Any] | str] = Field(default_factory=list)


class InventoryFile(_Model):
    version: Literal[1] = 1
    defaults: Settings = Field(default_factory=Settings)
    hosts: list[HostEntry] = Field(default_factory=list)
    groups: dict[str, Group] = Field(default_factory=dict)
    tls_defaults: TlsDefaults | None = None
    tls_endpoints: list[dict[str, Any] | str] = Field(default_factory=list)


# -- resolved -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class WinRMTarget:
    port: int
    auth: str
    username: str | None
    credential: str | None
    use_https: bool
    ca_file: str | None


@dataclass(frozen=True)
class HostSpec:
    """One host to scan, every setting resolved. `where` is the file:line it came from."""

    name: str
    address: str
    group: str
    transport: str
    port: int
    user: str | None
    identity: str | None
    passphrase: str | None
    agent: bool
    jump: Destination | None
    known_hosts: str | None
    connect_timeout: float
    command_timeout: float
    deadline: float
    policy: str | None
    winrm: WinRMTarget | None
    where: str

    @property
    def label(self) -> str:
        return f"{self.name} ({self.address})" if self.name != self.address else self.address


@dataclass(frozen=True)
class TlsTarget:
    endpoint: TlsEndpoint
    group: str
    where: str


@dataclass
class Inventory:
    path: Path
    hosts: list[HostSpec] = field(default_factory=list)
    tls: list[TlsTarget] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)

    def select(self, group: str | None = None, limit: str | None = None) -> tuple[list[HostSpec], list[TlsTarget]]:
        """Hosts and endpoints for `--group` and `--limit` (comma-separated names, addresses or globs)."""
        if group is not None and group not in self.groups:
            raise ConfigError(f"{self.path}: no group named {group!r} (groups: {', '.join(self.groups) or 'none'})")
        hosts = [h for h in self.hosts if group is None or h.group == group]
        tls = [t for t in self.tls if group is None or t.group == group]
        if limit:
            pats = [p.strip() for p in limit.split(",") if p.strip()]

            def hit(*names: str) -> bool:
                return any(fnmatch.fnmatchcase(n.lower(), p.lower()) for p in pats for n in names)

            hosts = [h for h in hosts if hit(h.name, h.address)]
            tls = [t for t in tls if hit(t.endpoint.host, t.endpoint.target)]
        return hosts, tls


# -- address expansion --------------------------------------------------------------------------
def expand_address(text: str, *, cap: int = MAX_PER_ENTRY) -> list[str]:
    """A name, an address, a CIDR block or an `a.b.c.d-e` / `a.b.c.d-a.b.c.e` range -> addresses.

    Pure; raises ValueError with a message fit for the user. CIDR blocks drop the network and broadcast
    addresses (IPv4 /30 and wider), as those are not hosts.
    """
    text = text.strip()
    if not text:
        raise ValueError("empty address")
    if "/" in text:
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a valid CIDR block") from exc
        if net.num_addresses > cap + 2:
            raise ValueError(f"{text!r} has {net.num_addresses} addresses; at most {cap} per entry")
        if net.num_addresses <= 2 or net.version == 6:
            addrs = list(net) if net.version == 4 else list(net.hosts()) or [net.network_address]
        else:
            addrs = list(net.hosts())
        return [str(a) for a in addrs]
    m = re.fullmatch(r"(\d+\.\d+\.\d+\.)(\d+)-(\d+\.\d+\.\d+\.\d+|\d+)", text)
    if m:
        try:
            first = ipaddress.IPv4Address(m.group(1) + m.group(2))
            last = ipaddress.IPv4Address(m.group(3) if "." in m.group(3) else m.group(1) + m.group(3))
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a valid address range") from exc
        count = int(last) - int(first) + 1
        if count < 1:
            raise ValueError(f"{text!r}: the range ends before it starts")
        if count > cap:
            raise ValueError(f"{text!r} has {count} addresses; at most {cap} per entry")
        return [str(ipaddress.IPv4Address(int(first) + i)) for i in range(count)]
    try:
        return [str(ipaddress.ip_address(text.strip("[]")))]
    except ValueError:
        pass
    if re.fullmatch(r"[\d.]+", text) or not _HOSTNAME.match(text):
        raise ValueError(f"{text!r} is not a host name, address, CIDR block or range")
    return [text.lower().rstrip(".")]


# -- loading ------------------------------------------------------------------------------------
def _walk(node: yaml.Node, loc: tuple[Any, ...]):
    """Yield (loc, key node, value node) for every mapping entry in the YAML tree."""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else "?"
            yield (*loc, key), k, v
            yield from _walk(v, (*loc, key))
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            yield from _walk(v, (*loc, i))


def _dotted(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc)


def check_no_passwords(path: Path, node: yaml.Node | None) -> None:
    """Refuse password-like keys with literal values, and credential fields that are not references."""
    if node is None:
        return
    for loc, knode, vnode in _walk(node, ()):
        key = str(loc[-1])
        where = f"{path}:{knode.start_mark.line + 1}: {_dotted(loc)}"
        if not isinstance(vnode, yaml.ScalarNode) or vnode.value in ("", "~", "null"):
            continue
        value = vnode.value
        if key in _REFERENCE_FIELDS:
            if not is_reference(value):
                raise ConfigError(
                    f"{where}: must be a reference like env:VARNAME or keyring:SERVICE/USER — "
                    "passwords must not be in configuration files (SO-14-6)"
                )
        elif _PASSWORDISH.search(key):
            if is_reference(value):
                raise ConfigError(
                    f"{where}: password authentication is not supported — SSH logs in with keys (identity, "
                    "ssh-agent; a key passphrase goes in `passphrase:`), WinRM takes `winrm.credential:`"
                )
            raise ConfigError(
                f"{where}: passwords must not be in configuration files (SO-14-6); "
                "use a reference such as env:VARNAME or keyring:SERVICE/USER in the matching credential field"
            )


def _fmt_errors(path: Path, node: yaml.Node | None, exc: ValidationError, prefix: tuple[Any, ...] = ()) -> str:
    parts = []
    for err in exc.errors():
        loc = (*prefix, *err["loc"])
        line = _line_of(node, loc)
        msg = "unknown field (check the spelling)" if err["type"] == "extra_forbidden" else err["msg"]
        msg = msg.removeprefix("Value error, ")
        parts.append(f"{path}:{line}: {_dotted(loc) or '(top level)'}: {msg}" if line else f"{path}: {_dotted(loc)}: {msg}")
    return "; ".join(parts)


def _merge(*layers: BaseModel | None) -> dict[str, Any]:
    """Later layers win, field by field; nested models (timeouts, winrm) merge field by field too."""
    out: dict[str, Any] = {}
    for layer in layers:
        if layer is None:
            continue
        for name in layer.model_fields_set:
            val = getattr(layer, name)
            if isinstance(val, BaseModel):
                prev = out.get(name, {})
                out[name] = {**prev, **{k: getattr(val, k) for k in val.model_fields_set}}
            elif val is not None:
                out[name] = val
    return out


def _resolve_path(base: Path, value: str | None) -> str | None:
    if value is None:
        return None
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else (base / p))


def _host_string(raw: Any) -> Any:
    """`user@host:port` shorthand in a host list -> a mapping (the port only when written)."""
    if not isinstance(raw, str):
        return raw
    try:
        d = parse_destination(raw, default_port=0)
    except ValueError:
        return {"address": raw}
    out: dict[str, Any] = {"address": d.host}
    if d.user:
        out["user"] = d.user
    if d.port:
        out["port"] = d.port
    return out


def _normalise(data: dict[str, Any]) -> dict[str, Any]:
    data = dict(data)
    if isinstance(data.get("hosts"), list):
        data["hosts"] = [_host_string(h) for h in data["hosts"]]
    groups = data.get("groups")
    if isinstance(groups, dict):
        data["groups"] = {
            k: ({**g, "hosts": [_host_string(h) for h in g["hosts"]]} if isinstance(g, dict) and isinstance(g.get("hosts"), list) else g)
            for k, g in groups.items()
        }
    return data


def load_inventory(path: Path | str) -> Inventory:
    path = Path(path)
    data, node = read_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level (defaults, groups, hosts, tls_endpoints)")
    check_no_passwords(path, node)
    try:
        model = InventoryFile.model_validate(_normalise(data))
    except ValidationError as exc:
        raise ConfigError(_fmt_errors(path, node, exc)) from exc
    base = path.resolve().parent
    inv = Inventory(path=path)
    seen: dict[tuple[str, int, str], str] = {}
    names: dict[str, str] = {}
    errors: list[str] = []

    def add_hosts(group: str, gmodel: Settings | None, entries: list[HostEntry], loc0: tuple[Any, ...]) -> None:
        for i, entry in enumerate(entries):
            loc = (*loc0, i)
            line = _line_of(node, loc)
            where = f"{path}:{line}" if line else str(path)
            fieldref = f"{where}: {_dotted(loc)}"
            if not entry.address and not entry.name:
                errors.append(f"{fieldref}: a host needs `address` or `name`")
                continue
            try:
                addrs = expand_address(entry.address or entry.name or "")
            except ValueError as exc:
                fl = _line_of(node, (*loc, "address")) or line
                errors.append(f"{path}:{fl}: {_dotted(loc)}.address: {exc}")
                continue
            if entry.name and len(addrs) > 1:
                errors.append(f"{fieldref}.name: `name` is for a single host, but the address is a range of {len(addrs)}")
                continue
            if len(inv.hosts) + len(addrs) > MAX_HOSTS:
                errors.append(f"{fieldref}: more than {MAX_HOSTS} hosts in one inventory; split it")
                return
            s = _merge(model.defaults, gmodel, entry)
            transport = s.get("transport", "ssh")
            t = s.get("timeouts", {})
            w = s.get("winrm", {})
            winrm = None
            if transport == "winrm":
                https = w.get("use_https", True)
                if not https and not w.get("insecure_http", False):
                    errors.append(
                        f"{fieldref}.winrm.use_https: plain-HTTP WinRM exposes credentials and results on the "
                        "network; set `insecure_http: true` as well to allow it knowingly"
                    )
                    continue
                auth = w.get("auth", "ntlm")
                if auth in ("ntlm", "credssp") and not w.get("credential"):
                    errors.append(f"{fieldref}.winrm.credential: {auth} needs a credential reference (env:VAR or keyring:SERVICE/USER)")
                    continue
                winrm = WinRMTarget(
                    port=w.get("port") or (5986 if https else 5985),
                    auth=auth,
                    username=w.get("username") or s.get("user"),
                    credential=w.get("credential"),
                    use_https=https,
                    ca_file=_resolve_path(base, w.get("ca_file")),
                )
            port = winrm.port if winrm else s.get("port", 22)
            jump = parse_destination(s["jump"]) if s.get("jump") else None
            for addr in addrs:
                name = entry.name or addr
                key = (addr, port, transport)
                origin = f"{where} ({_dotted(loc)}{' via ' + (entry.address or '') if len(addrs) > 1 else ''})"
                if key in seen:
                    errors.append(
                        f"{fieldref}: host {addr} ({transport} port {port}) is listed twice; first at {seen[key]}. "
                        "List each host once (per-host settings go on that one entry)"
                    )
                    continue
                if name in names and name != addr:
                    errors.append(f"{fieldref}.name: host name {name!r} is used twice; first at {names[name]}")
                    continue
                seen[key] = origin
                names[name] = origin
                inv.hosts.append(
                    HostSpec(
                        name=name,
                        address=addr,
                        group=group,
                        transport=transport,
                        port=port,
                        user=s.get("user"),
                        identity=_resolve_path(base, s.get("identity")),
                        passphrase=s.get("passphrase"),
                        agent=s.get("agent", True),
                        jump=jump,
                        known_hosts=_resolve_path(base, s.get("known_hosts")),
                        connect_timeout=t.get("connect") or DEFAULT_CONNECT_TIMEOUT,
                        command_timeout=t.get("command") or DEFAULT_COMMAND_TIMEOUT,
                        deadline=t.get("deadline") or DEFAULT_DEADLINE,
                        policy=_resolve_path(base, s.get("policy")),
                        winrm=winrm,
                        where=where,
                    )
                )

    def add_tls(group: str, defaults: list[TlsDefaults | None], entries: list[dict[str, Any] | str], loc0: tuple[Any, ...]) -> None:
        merged_defaults: dict[str, Any] = {}
        for d in defaults:
            if d is not None:
                merged_defaults.update({k: getattr(d, k) for k in d.model_fields_set})
        for k in ("ca_file", "client_cert", "client_key"):
            if k in merged_defaults:
                merged_defaults[k] = _resolve_path(base, merged_defaults[k])
        for i, raw in enumerate(entries):
            loc = (*loc0, i)
            line = _line_of(node, loc)
            if isinstance(raw, str):
                try:
                    d = parse_destination(raw, default_port=merged_defaults.get("port", 443))
                except ValueError as exc:
                    errors.append(f"{path}:{line}: {_dotted(loc)}: {exc}")
                    continue
                raw = {"host": d.host, "port": d.port}
            elif not isinstance(raw, dict):
                errors.append(f"{path}:{line}: {_dotted(loc)}: expected `host:port` or a mapping")
                continue
            for k in ("ca_file", "client_cert", "client_key"):
                if isinstance(raw.get(k), str):
                    raw = {**raw, k: _resolve_path(base, raw[k])}
            try:
                ep = TlsEndpoint.model_validate({**merged_defaults, **raw})
            except ValidationError as exc:
                errors.append(_fmt_errors(path, node, exc, loc))
                continue
            inv.tls.append(TlsTarget(ep, group, f"{path}:{line}"))

    add_hosts("ungrouped", None, model.hosts, ("hosts",))
    add_tls("ungrouped", [model.tls_defaults], model.tls_endpoints, ("tls_endpoints",))
    if model.hosts or model.tls_endpoints:
        inv.groups.append("ungrouped")
    for gname, g in model.groups.items():
        inv.groups.append(gname)
        add_hosts(gname, g, g.hosts, ("groups", gname, "hosts"))
        add_tls(gname, [model.tls_defaults, g.tls_defaults], g.tls_endpoints, ("groups", gname, "tls_endpoints"))
    if errors:
        raise ConfigError("\n".join(errors))
    return inv
