"""The MHLW 医療機関におけるサイバーセキュリティ対策チェックリスト answered from the bundle's evidence.

Rule: an item is はい only when EVERY host in scope has passing evidence for it; いいえ when any host fails it;
要確認 otherwise (no evidence, an error, a warning, only not-applicable findings, or an item a person answers).
Hosts in scope are the scanned hosts (local, offline root, SSH, WinRM); TLS endpoints answer no checklist item.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict, Field
from tenken.agent.bundle.model import BundleContext, HostResult
from tenken.checks.finding import Status, worst

YES, NO, CHECK = "はい", "いいえ", "要確認"
ANSWER_EN = {YES: "yes", NO: "no", CHECK: "to be checked"}
HOST_KINDS = {"local", "root", "ssh", "winrm"}


class ChecklistItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    ja: str
    en: str
    checks: list[str] = Field(default_factory=list)
    manual: bool = False
    supplementary: bool = False
    note_ja: str | None = None
    note_en: str | None = None


class Checklist(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    source: str
    fiscal_year: str
    wording: str
    items: list[ChecklistItem]


@cache
def load_checklist() -> Checklist:
    text = resources.files("tenken.config").joinpath("mhlw_checklist.yaml").read_text(encoding="utf-8")
    return Checklist.model_validate(yaml.safe_load(text))


@dataclass
class HostAnswer:
    host: str
    key: str
    answer: str
    status: str | None  # worst status of the findings behind it, None without evidence
    finding_ids: list[str]


@dataclass
class ChecklistAnswer:
    item: ChecklistItem
    answer: str
    manual: bool
    date: datetime | None  # newest observation behind the answer
    hosts: list[HostAnswer] = field(default_factory=list)
    reason_ja: str = ""
    reason_en: str = ""

    @property
    def finding_ids(self) -> list[str]:
        return [i for h in self.hosts for i in h.finding_ids]


def _host_answer(h: HostResult, checks: set[str]) -> HostAnswer:
    fs = [f for f in h.findings if f.check_id in checks]
    judged = [f for f in fs if f.status is not Status.NOT_APPLICABLE]
    st = worst([f.status for f in judged])
    if st is None:
        ans = CHECK
    elif st is Status.FAIL:
        ans = NO
    elif st is Status.PASS:
        ans = YES
    else:
        ans = CHECK
    return HostAnswer(h.name, h.key, ans, st.value if st else None, [f.id for f in fs])


def answer_checklist(ctx: BundleContext) -> list[ChecklistAnswer]:
    hosts = [h for h in ctx.hosts if h.target.kind.value in HOST_KINDS]
    out = []
    for item in load_checklist().items:
        if item.manual or not item.checks:
            out.append(ChecklistAnswer(item, CHECK, True, None, reason_ja="担当者が確認して記入します（手動確認）",
                                       reason_en="a person answers this item (manual)"))
            continue
        answers = [_host_answer(h, set(item.checks)) for h in hosts]
        with_evidence = [h for h, a in zip(hosts, answers, strict=True) if a.status is not None]
        when = max((h.source.observed_at for h in with_evidence), default=None)
        if not hosts:
            ans, rja, ren = CHECK, "対象ホストの証跡がありません", "no host in scope has evidence"
        elif any(a.answer == NO for a in answers):
            ans = NO
            bad = [a.host for a in answers if a.answer == NO]
            rja, ren = f"不適合のホスト: {', '.join(bad)}", f"failing on: {', '.join(bad)}"
        elif all(a.answer == YES for a in answers):
            ans, rja, ren = YES, f"全 {len(hosts)} ホストで証跡により確認", f"evidence on all {len(hosts)} hosts"
        else:
            ans = CHECK
            open_ = [a.host for a in answers if a.answer != YES]
            rja, ren = f"証跡が不足・警告・エラーのホスト: {', '.join(open_)}", f"missing, warning or error on: {', '.join(open_)}"
        out.append(ChecklistAnswer(item, ans, False, when, answers, rja, ren))
    return out


def _cell(v: str) -> str:
    """Excel runs a cell that starts with = + - @ (or a tab/CR) as a formula: keep it text."""
    return "'" + v if v[:1] in ("=", "+", "-", "@", "\t", "\r") else v


def render_checklist_csv(answers: list[ChecklistAnswer]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["項目 / item", "内容", "item (en)", "回答 / answer", "手動確認 / manual", "確認日 / date", "ホスト / hosts",
                "根拠の所見 / findings", "理由", "reason", "備考", "note"])
    for a in answers:
        w.writerow([_cell(x) for x in (
            a.item.id, a.item.ja, a.item.en, a.answer, "手動確認" if a.manual else "", a.date.date().isoformat() if a.date else "",
            " ".join(f"{h.host}={h.answer}" for h in a.hosts), " ".join(a.finding_ids), a.reason_ja, a.reason_en,
            a.item.note_ja or "", a.item.note_en or "")])
    return "\ufeff".encode() + buf.getvalue().encode("utf-8")
