"""JUnit view: counts match the findings, statuses map as documented, hostile strings stay well-formed XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter

from contexts import two_host_context
from tenken.agent.bundle.junit import render_junit


def _parse(ctx):
    return ET.fromstring(render_junit(ctx))


def test_one_suite_per_host_and_counts_match_findings() -> None:
    ctx = two_host_context()
    root = _parse(ctx)
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"weak-host", "good-host"}
    for host in ctx.hosts:
        s = suites[host.name]
        c = Counter(f.status.value for f in host.findings)
        assert int(s.get("tests")) == len(host.findings) == len(s.findall("testcase"))
        assert int(s.get("failures")) == c["fail"] == len(s.findall("testcase/failure"))
        assert int(s.get("errors")) == c["error"] == len(s.findall("testcase/error"))
        assert int(s.get("skipped")) == c["not_applicable"] + c["manual"] == len(s.findall("testcase/skipped"))
        assert {tc.get("classname") for tc in s.findall("testcase")} == {host.name}
    weak = suites["weak-host"]
    assert int(weak.get("failures")) == 2 and int(weak.get("errors")) == 2 and int(weak.get("skipped")) == 4
    assert suites["good-host"].get("failures") == "0" and suites["good-host"].get("errors") == "0"
    assert int(root.get("tests")) == 16 and int(root.get("failures")) == 2


def test_status_mapping_per_case() -> None:
    ctx = two_host_context()
    root = _parse(ctx)
    weak = next(h for h in ctx.hosts if h.name == "weak-host")
    cases = {tc.get("name"): tc for tc in root.iter("testcase") if tc.get("classname") == "weak-host"}
    for f in weak.findings:
        tc = cases[f"{f.check_id} [{f.subject}]"]
        kids = [k.tag for k in tc]
        expected = {"fail": ["failure"], "error": ["error"], "not_applicable": ["skipped"], "manual": ["skipped"],
                    "warn": ["system-out"], "pass": []}[f.status.value]
        assert kids == expected, (f.status, kids)
        if f.status.value == "warn":
            assert tc.find("system-out").text.startswith("WARN: ")
        if f.status.value in ("manual", "not_applicable"):
            assert tc.find("skipped").get("message").startswith(f.status.value)


def test_hostile_subject_is_escaped_and_control_chars_replaced() -> None:
    hostile = 'a<b&c"d\x00e\x1bf]]>g'
    data = render_junit(two_host_context(weak_subject=hostile))
    assert b"\x00" not in data and b"\x1b" not in data
    root = ET.fromstring(data)  # well-formed despite the subject
    names = [tc.get("name") for tc in root.iter("testcase")]
    assert any(n.endswith('[a<b&c"d\ufffde\ufffdf]]>g]') for n in names), names
