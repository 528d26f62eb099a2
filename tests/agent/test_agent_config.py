"""The agent configuration file: actionable errors (file:line: field), paths, sizes, durations, totality."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from agent_fixtures import *  # noqa: F403  (fixtures)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tenken.agent.agent_config import AgentConfig, load_agent_config, parse_duration, parse_size
from tenken.checks.configfile import ConfigError
from tenken.config import data_path

BASE = """\
signing_key: keys/agent.key
hub:
  url: https://hub.example:8443/
  ca_file: hub-ca.pem
  client_cert: keys/tls.crt
  client_key: keys/tls.key
spool:
  dir: spool
jobs:
  - name: this-host
    kind: local
    schedule:
      daily_at: "02:30"
"""


def _load(tmp_path: Path, text: str) -> AgentConfig:
    p = tmp_path / "agent.yaml"
    p.write_text(text)
    return load_agent_config(p)


def test_shipped_example_is_valid() -> None:
    cfg = load_agent_config(data_path("examples/agent.yaml"))
    assert [j.kind.value for j in cfg.jobs] == ["local", "tls"]
    assert cfg.jobs[0].schedule.daily_at == "02:30" and cfg.jobs[0].schedule.jitter == 1800
    assert cfg.spool.max_bytes == 512 * 2**20 and cfg.retry.cap == 3600


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    cfg = _load(tmp_path, BASE)
    assert cfg.signing_key == str(tmp_path / "keys/agent.key")
    assert cfg.hub.ca_file == str(tmp_path / "hub-ca.pem") and cfg.spool.dir == str(tmp_path / "spool")
    assert cfg.hub.url == "https://hub.example:8443"  # trailing slash dropped
    assert cfg.jobs[0].schedule.jitter == 600  # a default spread, so a fleet never stampedes by accident


@pytest.mark.parametrize(
    ("edit", "where", "message"),
    [
        (("daily_at: \"02:30\"", "daily_at: \"24:10\""), "jobs.0.schedule.daily_at", "HH:MM"),
        (("daily_at: \"02:30\"", "daily_at: 2:30"), "jobs.0.schedule.daily_at", "in quotes"),
        (("daily_at: \"02:30\"", "every_hours: 0"), "jobs.0.schedule.every_hours", "greater than or equal to 1"),
        (("daily_at: \"02:30\"", "jitter: 5m"), "jobs.0.schedule", "exactly one of"),
        (("kind: local", "kind: cloud"), "jobs.0.kind", "'local', 'inventory' or 'tls'"),
        (("kind: local", "kind: tls"), "jobs.0", "non-empty `endpoints`"),
        (("url: https://hub.example:8443/", "url: http://hub.example"), "hub.url", "should match pattern"),
        (("  dir: spool", "  dir: spool\n  max_bytes: lots"), "spool.max_bytes", "valid integer"),
        (("  dir: spool", "  dir: spool\n  max_reports: 0"), "spool.max_reports", "greater than or equal to 1"),
        (("signing_key: keys/agent.key", "signing_kee: keys/agent.key"), "signing_kee", "unknown field"),
    ],
)
def test_errors_name_file_line_and_field(tmp_path: Path, edit, where, message) -> None:
    text = BASE.replace(*edit)
    assert text != BASE
    with pytest.raises(ConfigError) as exc:
        _load(tmp_path, text)
    msg = str(exc.value)
    assert f"{tmp_path / 'agent.yaml'}:" in msg and f": {where}:" in msg and message in msg
    line = int(msg.split(f"{tmp_path / 'agent.yaml'}:", 1)[1].split(":", 1)[0])
    assert 1 <= line <= len(text.splitlines())


def test_duplicate_job_names_and_retry_order(tmp_path: Path) -> None:
    twice = BASE + "  - name: this-host\n    kind: local\n    schedule: {every_hours: 1}\n"
    with pytest.raises(ConfigError, match="repeated: this-host"):
        _load(tmp_path, twice)
    with pytest.raises(ConfigError, match="cap must be >= base"):
        _load(tmp_path, BASE + "retry: {base: 1h, cap: 5s}\n")


def test_tls_and_inventory_jobs(tmp_path: Path) -> None:
    cfg = _load(tmp_path, BASE + """\
  - name: tls
    kind: tls
    endpoints: [{host: emr.local, port: 8443, zone: closed}]
    schedule: {every_hours: 6, jitter: 15m}
  - name: fleet
    kind: inventory
    inventory: inv.yaml
    groups: [emr]
    known_hosts: known_hosts
    schedule: {every_minutes: 30, jitter: 0}
""")
    tls, fleet = cfg.jobs[1], cfg.jobs[2]
    assert tls.endpoints[0].target == "emr.local:8443" and tls.schedule.jitter == 900
    assert fleet.inventory == str(tmp_path / "inv.yaml") and fleet.known_hosts == str(tmp_path / "known_hosts")
    assert fleet.schedule.describe() == "every 30 min"


@pytest.mark.parametrize(("text", "value"), [("512MiB", 512 * 2**20), ("2 GB", 2 * 10**9), ("1048576", 2**20), ("64k", 64000)])
def test_sizes(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize(("text", "value"), [("30s", 30), ("10m", 600), ("1h", 3600), ("1d", 86400), ("45", 45), ("1.5h", 5400)])
def test_durations(text: str, value: float) -> None:
    assert parse_duration(text) == value


@given(st.text(max_size=30))
def test_size_and_duration_parsers_are_total(text: str) -> None:
    for parse in (parse_size, parse_duration):
        out = parse(text)
        assert out == text or (isinstance(out, int | float) and out >= 0)


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.text(max_size=12))
_values = st.recursive(_scalars, lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=10), c, max_size=4)), max_leaves=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutation=st.dictionaries(st.sampled_from(["signing_key", "hub", "spool", "retry", "jobs", "shutdown_grace", "policy", "extra"]), _values, max_size=3))
def test_any_yaml_is_a_config_or_a_config_error(tmp_path: Path, mutation: dict) -> None:
    data = yaml.safe_load(BASE)
    data.update(mutation)
    p = tmp_path / "fuzz.yaml"
    p.write_text(yaml.safe_dump(data))
    try:
        load_agent_config(p)
    except ConfigError as exc:
        assert str(exc).startswith(str(p))
