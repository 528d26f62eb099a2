"""JUnit XML view of a bundle, so a golden-image pipeline (Jenkins, GitLab, GitHub) fails on a weak host.

Mapping of tenken statuses (documented here because CI tools only know pass/failure/error/skipped):
- fail            -> <failure>   (the pipeline must fail)
- error           -> <error>     (the check could not judge: never a silent pass; the pipeline must fail)
- not_applicable  -> <skipped message="not applicable ...">
- manual          -> <skipped message="manual ...">  (a person must confirm; not something CI can judge)
- warn            -> passes, with a "WARN: ..." line in <system-out> (advisory, must not break builds)
- pass            -> passes

Pure function: no I/O. Control characters that XML 1.0 forbids are replaced by U+FFFD so a hostile subject can
neither break the document nor vanish silently.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from tenken.agent.bundle.model import BundleContext, HostResult
from tenken.checks.finding import Finding, Status

# Characters not allowed in XML 1.0 documents (https://www.w3.org/TR/xml/#charsets).
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_safe(s: str) -> str:
    """Replace XML-1.0-illegal characters with U+FFFD (visible, so the damage is not hidden)."""
    return _ILLEGAL_XML.sub("\ufffd", s)


def _case_name(f: Finding) -> str:
    return f"{f.check_id} [{f.subject}]" if f.subject else f.check_id


def _message(f: Finding) -> str:
    return f"{f.title.en} / {f.title.ja} ({', '.join(f.clauses)})"


def _testcase(suite: ET.Element, host: HostResult, f: Finding) -> str:
    tc = ET.SubElement(suite, "testcase", classname=xml_safe(host.name), name=xml_safe(_case_name(f)))
    body = xml_safe(f"{f.detail.en}\n{f.detail.ja}\nremediation: {f.remediation.en} / {f.remediation.ja}")
    if f.status is Status.FAIL:
        el = ET.SubElement(tc, "failure", message=xml_safe(_message(f)), type=f.severity.value)
        el.text = body
    elif f.status is Status.ERROR:
        el = ET.SubElement(tc, "error", message=xml_safe(_message(f)), type="error")
        el.text = body
    elif f.status in (Status.NOT_APPLICABLE, Status.MANUAL):
        ET.SubElement(tc, "skipped", message=xml_safe(f"{f.status.value}: {_message(f)}"))
    elif f.status is Status.WARN:
        out = ET.SubElement(tc, "system-out")
        out.text = xml_safe(f"WARN: {_message(f)}\n{body}")
    return f.status.value


def render_junit(ctx: BundleContext) -> bytes:
    """One <testsuite> per host (latest result), one <testcase> per finding (check x subject) on that host."""
    root = ET.Element("testsuites", name=xml_safe(f"tenken bundle {ctx.bundle_id}"))
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for host in ctx.hosts:
        suite = ET.SubElement(
            root, "testsuite", name=xml_safe(host.name), id=xml_safe(host.key),
            timestamp=host.source.report.finished_at.isoformat(), hostname=xml_safe(host.name),
        )
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for f in sorted(host.findings, key=lambda f: (f.check_id, f.subject or "", f.id)):
            st = _testcase(suite, host, f)
            counts["tests"] += 1
            if st == Status.FAIL:
                counts["failures"] += 1
            elif st == Status.ERROR:
                counts["errors"] += 1
            elif st in (Status.NOT_APPLICABLE, Status.MANUAL):
                counts["skipped"] += 1
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
    for k, v in totals.items():
        root.set(k, str(v))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
