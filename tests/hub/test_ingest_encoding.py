"""SQLite ingest hands the JSON columns of findings over already encoded (one pass instead of two): the stored
text must be exactly what the column's own SQLAlchemy processor makes, for every JSON column, waivers and
non-ASCII text included, and read back as the same values."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from hub_harness import make_report
from sqlalchemy import select
from tenken.checks.finding import AppliedWaiver
from tenken.hub import tables as t
from tenken.hub.db import open_db, utcnow, write_tx
from tenken.hub.ingest import FINDING_JSON_COLS, store, streamed


def test_preencoded_json_columns_equal_the_processor_output(tmp_path: Path) -> None:
    engine = open_db(f"sqlite:///{tmp_path / 'hub.db'}")
    try:
        with write_tx(engine) as conn:
            conn.execute(t.agents.insert().values(id="ag-x", signing_key="-", key_id="k", cert_serial="1", enrolled_at=utcnow() - timedelta(days=1)))
        rep = make_report(target="病棟-pc", n_findings=7, clauses=("SO-14-2", "SO-7-1", "SO-14-2"))
        waived = rep.findings[2].model_copy(update={"waiver": AppliedWaiver(justification="更新計画あり \"quoted\" \\ back", approver="情報システム課",
                                                                             expires=date(2027, 3, 31), reference="稟議-12")})
        rep = rep.model_copy(update={"findings": [*rep.findings[:2], waived, *rep.findings[3:]]})
        assert store(engine, streamed(rep), agent_id="ag-x", envelope=b"{}", payload=rep.id.encode()).status == "stored"
        cols = sorted(FINDING_JSON_COLS)
        with engine.connect() as conn:
            raw = conn.exec_driver_sql(f"SELECT seq, {', '.join(cols)} FROM findings ORDER BY seq").all()
            back = {r.seq: r for r in conn.execute(select(t.findings).order_by(t.findings.c.seq))}
        assert len(raw) == 7 and raw[2][cols.index("waiver") + 1] is not None
        for row in raw:
            f = rep.findings[row[0]]
            want = {
                "clauses": list(f.clauses), "evidence": list(f.evidence), "waiver": f.waiver.model_dump(mode="json") if f.waiver else None,
                "text": {"title": f.title.model_dump(), "detail": f.detail.model_dump(), "remediation": f.remediation.model_dump()},
            }
            for i, c in enumerate(cols, start=1):
                proc = t.findings.c[c].type._cached_bind_processor(engine.dialect)
                assert row[i] == proc(want[c]), c  # byte for byte what SQLAlchemy would have stored
                assert getattr(back[row[0]], c) == want[c], c
    finally:
        engine.dispose()
