"""Pending updates of a remote Debian host computed on the scanner from lines the target filters
(collectors/linux/apt_remote.py), against the in-process computation and apt-get itself on this machine."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from tenken.collectors.linux.apt_lists import ListDecodeError, collect_apt_lists
from tenken.collectors.linux.apt_remote import collect_apt_lists_remote, parse_stream
from tenken.collectors.probe import Probe
from tenken.collectors.registry import COLLECTORS, load_all, run_collector
from tenken.collectors.settings import CollectSettings
from tenken.collectors.transport.local import LocalTransport

needs_apt = pytest.mark.skipif(
    not any(Path("/var/lib/apt/lists").glob("*_Packages*")), reason="needs apt lists on this machine"
)


class SeenRemotely(LocalTransport):
    """This machine, but not local to the scanner: collectors take the remote path (as over SSH)."""

    is_local = False


class CountingRemote(SeenRemotely):
    def __init__(self) -> None:
        super().__init__()
        self.commands: list[list[str]] = []
        self.stdout_bytes = 0

    def run(self, argv, *, timeout=10.0, privileged=False):  # type: ignore[no-untyped-def]
        self.commands.append(list(argv))
        res = super().run(argv, timeout=timeout, privileged=privileged)
        self.stdout_bytes += len(res.stdout)
        return res


@needs_apt
def test_remote_filtering_gives_the_same_pending_list_as_reading_the_files() -> None:
    local = collect_apt_lists(Probe(LocalTransport()))
    t = CountingRemote()
    remote = collect_apt_lists_remote(Probe(t))
    assert local.computation is not None and remote.computation is not None, (local.fallback, remote.fallback)
    assert remote.computation.upgrades == local.computation.upgrades
    assert remote.computation.held == local.computation.held
    assert remote.lists == local.lists  # suites, origins, Release dates and list mtimes too
    # one command for everything, not apt-get; and far less than the lists themselves comes back
    assert [c[:2] for c in t.commands] == [["sh", "-c"]]
    total = sum(p.stat().st_size for p in Path("/var/lib/apt/lists").glob("*_Packages*"))
    assert t.stdout_bytes < total / 20, (t.stdout_bytes, total)


@needs_apt
def test_patches_collector_over_a_remote_transport_does_not_run_apt_unless_cross_checking() -> None:
    load_all()
    spec = COLLECTORS["linux.patches"]
    t = CountingRemote()
    got = run_collector(spec, t, CollectSettings())
    assert got.facts is not None and got.facts.pending_method == "apt-lists-remote", got.facts
    assert "filtered on the target" in (got.facts.pending_source or "")
    assert not any(c[0] == "apt-get" for c in t.commands), t.commands
    t2 = CountingRemote()
    crossed = run_collector(spec, t2, CollectSettings(apt_crosscheck=True))
    assert any(c[0] == "apt-get" for c in t2.commands)
    assert "apt-get -s cross-check" in crossed.evidence.raw
    assert crossed.facts is not None and crossed.facts.pending == got.facts.pending


def test_a_cut_stream_or_a_failed_file_is_never_a_result() -> None:
    b = "ab" * 16
    whole = f"\n{b} status -\nPackage: a\nStatus: install ok installed\nVersion: 1\n\n{b} end -\n".encode()
    assert ("status", "-") in parse_stream(whole, b)
    with pytest.raises(ListDecodeError):
        parse_stream(whole[: whole.index(f"{b} end".encode())], b)
    rec = parse_stream(f"\n{b} list x_Packages.lz4\n\n{b} err x_Packages.lz4\n\n{b} end -\n".encode(), b)
    assert ("err", "x_Packages.lz4") in rec


@needs_apt
def test_a_list_the_target_cannot_decode_is_a_fallback_reason(tmp_path: Path) -> None:
    """A list the target cannot read (here: a name it does not have) makes the reading fail with a reason
    naming the file, never a (wrong) shorter pending list."""

    class Gone(SeenRemotely):
        def list_dir(self, path: str) -> list[str]:
            return [*super().list_dir(path), "example.org_dists_x_main_binary-amd64_Packages.lz4"]

    got = collect_apt_lists_remote(Probe(Gone()))
    assert got.computation is None
    assert got.fallback and "example.org_dists_x_main_binary-amd64_Packages.lz4" in got.fallback


def test_gzip_framing_round_trips() -> None:
    from tenken.collectors.linux.apt_lists import decompress

    b = "cd" * 16
    raw = f"\n{b} mtime -\n1700000000 a_Packages\n\n{b} end -\n".encode()
    assert parse_stream(decompress(".gz", gzip.compress(raw)), b)[("mtime", "-")].startswith(b"1700000000")
