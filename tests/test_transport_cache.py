"""The per-scan read cache: same findings as without it, and every file read once per scan."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from roots import make_good_root, make_weak_root
from tenken.agent.report import TargetKind
from tenken.agent.scan import scan_host
from tenken.checks.policy import load_policy
from tenken.collectors.transport.cache import CachingTransport
from tenken.collectors.transport.root import RootTransport


class CountingRoot(RootTransport):
    """Counts the reads that reach the file system."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reads: Counter[str] = Counter()

    def read_file(self, path: str, *, privileged: bool = False, max_bytes: int = 8 * 1024 * 1024) -> bytes:
        self.reads[path] += 1
        return super().read_file(path, privileged=privileged, max_bytes=max_bytes)


def _findings(transport) -> list[tuple]:
    res = scan_host(transport, load_policy(None), kind=TargetKind.ROOT)
    return sorted((f.check_id, f.subject or "", f.status.value, f.detail.en) for f in res.findings)


def test_cache_gives_the_same_findings_and_reads_each_file_once(tmp_path: Path) -> None:
    for make in (make_good_root, make_weak_root):
        root = make(tmp_path / make.__name__)
        plain, inner = CountingRoot(root), CountingRoot(root)
        assert _findings(CachingTransport(inner)) == _findings(plain)
        twice = {p for p, n in plain.reads.items() if n > 1}
        assert twice, "the image should have files several collectors read (e.g. dpkg status, os-release)"
        assert max(inner.reads.values()) == 1, {p: n for p, n in inner.reads.items() if n > 1}
        assert set(inner.reads) == set(plain.reads)


def test_missing_files_and_bounds(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "big").write_bytes(b"x" * 1000)
    inner = CountingRoot(root)
    t = CachingTransport(inner, max_total=600)
    import pytest
    from tenken.collectors.transport.base import FileMissing

    for _ in range(2):
        with pytest.raises(FileMissing):
            t.read_file("/etc/nothing")
    assert inner.reads["/etc/nothing"] == 1
    assert t.read_file("/etc/big", max_bytes=10) == b"x" * 10
    assert t.read_file("/etc/big") == b"x" * 1000  # a cut read does not answer a longer one
    assert t.read_file("/etc/big") == b"x" * 1000  # over max_total: read through, not kept
    assert inner.reads["/etc/big"] == 3


def test_a_parser_runs_once_per_scan_and_content(tmp_path: Path) -> None:
    """Probe.parsed: the dpkg status parse shared by patches, antimalware and services runs once per host
    scan (the transport's life), again for other content, and again for the next host's transport."""
    from tenken.collectors.linux.pkgdb import parse_dpkg_status
    from tenken.collectors.probe import Probe
    from tenken.collectors.transport.root import RootTransport

    calls: list[str] = []

    def counting(text: str) -> dict[str, str]:
        calls.append(text)
        return parse_dpkg_status(text)

    status = "Package: a\nStatus: install ok installed\nVersion: 1\n\nPackage: b\nStatus: deinstall ok config-files\nVersion: 2\n"
    t1 = RootTransport(str(tmp_path))
    first = Probe(t1).parsed(counting, status)
    assert Probe(t1).parsed(counting, status) is first and first == {"a": "1"}  # another collector, same scan
    assert Probe(t1).parsed(counting, status.replace("Version: 1", "Version: 9")) == {"a": "9"}
    assert Probe(RootTransport(str(tmp_path))).parsed(counting, status) == {"a": "1"}  # the next host's scan
    assert len(calls) == 3
