"""README.txt of a bundle: what each file is and how to check it, for an auditor, Japanese first."""

from __future__ import annotations

from tenken.agent.bundle import model as m

_WHAT = [
    ("reports/", "署名付き点検結果（DSSE 封筒、受信したそのままのバイト列）", "signed scan reports (DSSE envelopes, byte for byte as received)"),
    ("evidence/", "各点検結果の生の証跡（報告書ごと・証跡ごとに1ファイル）", "raw evidence of each report, one file per evidence item"),
    ("keys/", "検証に必要な公開鍵（エージェントの署名鍵、マニフェスト署名鍵）", "public keys needed to verify (agent signing keys, the manifest signer)"),
    ("report.html", "印刷用の報告書（ブラウザで開く）", "printable report (open in a browser)"),
    ("report.pdf", "印刷用の報告書の PDF", "the printable report as PDF"),
    ("findings.csv", "全所見の一覧（Excel で開けます, UTF-8 BOM 付き）", "every finding (opens in Excel; UTF-8 with BOM)"),
    ("checklist.html", "医療機関におけるサイバーセキュリティ対策チェックリスト（証跡から回答）", "the MHLW cybersecurity checklist answered from the evidence"),
    ("checklist.csv", "同チェックリストの CSV", "the checklist as CSV"),
    ("oscal/", "OSCAL assessment-results（他ツール向け）", "OSCAL assessment results (for other tools)"),
    ("junit.xml", "JUnit XML（CI/ゴールデンイメージ用）", "JUnit XML (for CI and golden-image pipelines)"),
    ("notes/", "作成時の注記（作成できなかったファイルの理由など）", "notes from building (e.g. why a file was not made)"),
    (m.MANIFEST, "全ファイルの SHA-256 とサイズの一覧", "every member with its SHA-256 and size"),
    (m.MANIFEST_SIG, "manifest.json への署名（DSSE, Ed25519）", "signature over manifest.json (DSSE, Ed25519)"),
    (m.TIMESTAMP, "manifest.json への RFC 3161 タイムスタンプ", "RFC 3161 timestamp over manifest.json"),
]


def render_readme(ctx: m.BundleContext, members: list[str], notes: list[str], signer_keyid: str, tsa_url: str | None) -> bytes:
    hosts = ctx.hosts
    present = [(p, ja, en) for p, ja, en in _WHAT if any(x == p or x.startswith(p) for x in members) or p in (m.MANIFEST, m.MANIFEST_SIG) or (p == m.TIMESTAMP and tsa_url)]
    lines = [
        "点検 (tenken) 監査用証跡バンドル / tenken evidence bundle for audits",
        "=" * 60,
        f"バンドル ID / Bundle id : {ctx.bundle_id}",
        f"作成日時 / Created (UTC): {ctx.created_at.isoformat()}",
        f"対象ホスト数 / Hosts    : {len(hosts)}",
        f"報告書数 / Reports      : {len(ctx.reports)}",
        f"マニフェスト署名鍵 / Manifest signer key id: {signer_keyid}",
        "",
        "■ このファイルについて",
        "このバンドルは、どのホストを・いつ・どのエージェントが点検したかの証跡と、その後に改変されていないことを",
        "検証できる形でまとめたものです。manifest.json に全ファイルのハッシュ値が記載され、manifest.json 自体が",
        "署名されています。各点検結果は点検したエージェントの鍵で署名されています。",
        "",
        "About this file: it holds what was checked, when, on which host and by which agent, in a form that shows",
        "nobody changed it since. manifest.json lists every file with its hash and is itself signed; every report",
        "is signed by the agent that made it.",
        "",
        "■ 検証方法 / How to verify (ネットワーク不要 / no network needed)",
        f"  tenken verify {ctx.bundle_id}.zip --key 信頼する公開鍵.pem [--key ...]",
        "  --key を指定すると、その鍵で署名された報告書とマニフェストだけを正当と認めます（推奨）。",
        "  With --key, only reports and a manifest signed by those keys are accepted (recommended); without it,",
        "  the keys in keys/ are used: that proves the bundle is intact, not who made it.",
        "  改変・欠落・追加されたファイルがあれば、そのファイル名を示して終了コード 1 で終わります。",
        "  A changed, missing or extra file is named and the exit code is 1.",
        "",
        "■ 収録ファイル / What each file is",
    ]
    lines += [f"  {p:<20} {ja}\n  {'':<20} {en}" for p, ja, en in present]
    lines += ["", "■ タイムスタンプ / Timestamp"]
    if tsa_url:
        lines.append(f"  manifest.json に RFC 3161 タイムスタンプ（{tsa_url}）が付いています: {m.TIMESTAMP}")
        lines.append(f"  manifest.json carries an RFC 3161 timestamp from {tsa_url}: {m.TIMESTAMP}")
    else:
        lines.append("  タイムスタンプは付与されていません（TSA 未設定）。作成日時はバンドル作成者の時計によるものです。")
        lines.append("  This bundle is NOT timestamped (no TSA configured): its creation time is the builder's clock.")
    if notes:
        lines += ["", "■ 注記 / Notes"] + [f"  - {n}" for n in notes]
    s = ctx.scope
    lines += ["", "■ 範囲 / Scope",
              f"  取得元 / source: {s.source}{' ' + s.hub_url if s.hub_url else ''}",
              f"  グループ / group: {s.group or '(すべて / all)'}   条項 / clause: {s.clause or '(すべて / all)'}",
              f"  期間 / period: {s.since.isoformat() if s.since else '-'} 〜 {s.until.isoformat() if s.until else '-'}",
              "", "■ ホスト / Hosts"]
    lines += [f"  {h.name}  ({h.key}; {h.target.kind.value}; 報告書 {h.source.report.id}; エージェント {h.source.agent_id})" for h in hosts]
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")
