#!/usr/bin/env python3
"""Extract the システム運用編 clauses from the 各編間相関表 seed text.

The seed (PDF text of the cross-reference table of the MHLW 医療情報システムの
安全管理に関するガイドライン 第6.0版) interleaves three columns: 経営管理編 (rows),
企画管理編 and システム運用編. The same システム運用編 clause is repeated once per
row it relates to. This tool:

  * finds every heading block (e.g. 「１３．ネットワークに関する／安全管理措置」,
    split over several PDF lines) and keeps only those whose (number, title)
    pair is one of the 18 システム運用編 sections;
  * collects the clause (①, ②, ...) that follows such a heading, up to the next
    heading, circled number, 備考 code or page-furniture line;
  * joins the PDF lines and reports, per clause, every distinct variant found
    (variants compared with all whitespace removed) with its count.

Usage:
  extract_catalogue.py [SEED]            print variants per clause
  extract_catalogue.py --verify YAML [SEED]
                                         check every text_ja of YAML occurs in
                                         the seed (whitespace-insensitive) and
                                         that it matches an extracted variant

The final config/catalogue.yaml is hand-curated from this output (class,
glosses and auditor questions are editorial).
"""
from __future__ import annotations

import collections
import re
import sys
from pathlib import Path

DEFAULT_SEED = (
    Path(__file__).resolve().parents[3] / "shared" / "seeds" / "000_fc7d0f300d02c1ad.txt"
)

# (number, title) of the 18 システム運用編 sections as printed in the seed.
SO_SECTIONS = {
    1: "情報セキュリティの基本的な考え方",
    2: "システム設計・運用に必要な規程類と文書体系",
    3: "責任分界",
    4: "リスクアセスメントを踏まえた安全対策の設計",
    5: "システム設計の見直し（標準化対応、新規技術導入のための評価等）",
    6: "安全管理を実現するための技術的対策の体系",
    7: "情報の持出し・管理・破棄等",
    8: "利用機器・サービスに対する安全管理措置",
    9: "ソフトウェア・サービスに対する要求事項",
    10: "システム・サービス事業者による保守対応等に対する安全管理措置",
    11: "システム運用管理（通常時・非常時等）",
    12: "物理的安全管理措置",
    13: "ネットワークに関する安全管理措置",
    14: "認証・認可に関する安全管理措置",
    15: "電子署名、タイムスタンプ",
    16: "紙媒体等で作成した医療情報の電子化",
    17: "証跡のレビュー・システム監査",
    18: "外部からの攻撃に対する安全管理措置",
}

CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳㉑㉒㉓㉔㉕㉖㉗㉘㉙㉚"
CIRCLED_NUM = {c: i + 1 for i, c in enumerate(CIRCLED)}
FW = str.maketrans("０１２３４５６７８９", "0123456789")

WS = re.compile(r"\s+")
# Start of a numbered heading of any volume: "１３．", "12．", "16. ", "８ ． ", "１６.紙"
HEADING = re.compile(r"^([0-9０-９]{1,2})\s*[．.](?!\s*[0-9０-９])\s*(.*)$")
# Page furniture / 経営管理編 sub-headings / 備考 codes that end a clause.
STOPPERS = [
    re.compile(r"^[0-9０-９]+\s*[．.]\s*[0-9０-９]"),  # 1.3 / ３．４．１ / 2.1 ...
    re.compile(r"^【(?!遵守事項)"),                    # 【説明責任】 etc.
    re.compile(r"^(企画管理編|記載箇所|各編間相関表|経営管理編|遵守事項 記載箇所)"),
    re.compile(r"^[0-9０-９.]+C[0-9０-９]"),           # 10C2-4, 6.2C4, １０C1(2)c
    re.compile(r"^(第10章|付表|[－ー\-])\s*$"),
]


def strip_ws(s: str) -> str:
    return WS.sub("", s)


def load_lines(seed: Path) -> list[str]:
    return [ln.rstrip() for ln in seed.read_text(encoding="utf-8").split("\n")]


def is_stopper(line: str) -> bool:
    return any(p.match(line) for p in STOPPERS)


MARKER = re.compile(r"^(－|・|\([0-9]+\)|[a-i](?=[ \u3000])|[0-9]+\.(?=[ \u3000]))[ \u3000]*")


def clean_line(text: str) -> str:
    """Normalise blanks inside one PDF line: keep a single space only between
    two ASCII alphanumerics (e.g. "Certified Information"); drop the rest
    (PDF spacing artefacts such as "ユーザID とパスワード", "利 用 せず")."""
    text = re.sub(r"[ \u3000]+", " ", text.strip())
    # Keep a single space only between two ASCII alphanumerics; bullets keep
    # a readable full-width space after "－" / "・".
    out = []
    for i, ch in enumerate(text):
        if ch == " ":
            prev = text[i - 1] if i else ""
            nxt = text[i + 1] if i + 1 < len(text) else ""
            if prev.isascii() and prev.isalnum() and nxt.isascii() and nxt.isalnum():
                out.append(" ")
            continue
        out.append(ch)
    return "".join(out)


def join_lines(parts: list[str]) -> str:
    """Join the PDF lines of one clause. A line that opens a sub-item
    (－, ・, (1), a, 1.) is separated from the preceding text by one space and
    its marker by one space; all other line breaks are simply removed."""
    out = ""
    for k, part in enumerate(parts):
        part = part.strip()
        m = MARKER.match(part)
        if m and k > 0:
            out += " " + m.group(1) + " " + clean_line(part[m.end():])
        else:
            out += clean_line(part)
    return out.strip()


def extract(seed: Path):
    """Return {(section, number): Counter({text: count})} and heading titles seen."""
    lines = list(load_lines(seed))
    found: dict[tuple[int, int], collections.Counter] = collections.defaultdict(collections.Counter)
    raw_variants: dict[tuple[int, int], dict[str, str]] = collections.defaultdict(dict)
    i, n = 0, len(lines)
    while i < n:
        m = HEADING.match(lines[i].strip())
        if not m:
            i += 1
            continue
        num = int(m.group(1).translate(FW))
        # Collect heading title (may span several lines) up to a circled number.
        title_parts = [m.group(2)]
        j = i + 1
        first_clause_line = None
        # same-line clause: "10．運用に対する点検・監査 ③ ..."
        for k, ch in enumerate(title_parts[0]):
            if ch in CIRCLED_NUM:
                first_clause_line = title_parts[0][k:]
                title_parts[0] = title_parts[0][:k]
                break
        restart = False
        while first_clause_line is None and j < n:
            s = lines[j].strip()
            j += 1
            if not s or s == "【遵守事項】":
                continue
            if s[0] in CIRCLED_NUM:
                first_clause_line = s
                break
            if HEADING.match(s) and not is_stopper(s):
                restart = True
                j -= 1
                break
            title_parts.append(s)
        if restart or first_clause_line is None:
            i = j
            continue
        title = strip_ws("".join(title_parts))
        # 企画管理編 prints two-digit section numbers with ASCII digits
        # ("16. 紙媒体等で…" has the same title as システム運用編 "１６.紙媒体等で…");
        # システム運用編 always uses full-width digits.
        if SO_SECTIONS.get(num) != title or not re.fullmatch(r"[０-９]+", m.group(1)):
            i = j
            continue
        # Collect the clause body.
        cnum = CIRCLED_NUM[first_clause_line[0]]
        body = [first_clause_line[1:]]
        while j < n:
            s = lines[j].strip()
            if not s:
                j += 1
                continue
            if s[0] in CIRCLED_NUM or HEADING.match(s) or is_stopper(s):
                break
            body.append(s)
            j += 1
        text = join_lines(body)
        key = (num, cnum)
        found[key][strip_ws(text)] += 1
        raw_variants[key].setdefault(strip_ws(text), text)
        i = j
    return found, raw_variants


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--verify":
        import yaml

        cat = yaml.safe_load(Path(argv[1]).read_text(encoding="utf-8"))
        seed = Path(argv[2]) if len(argv) > 2 else DEFAULT_SEED
        flat = strip_ws(seed.read_text(encoding="utf-8"))
        found, _ = extract(seed)
        bad = 0
        for c in cat["clauses"]:
            key = (c["section"], c["number"])
            t = strip_ws(c["text_ja"])
            if t not in flat:
                print(f"NOT IN SEED: {c['id']}")
                bad += 1
            elif t not in found.get(key, {}):
                print(f"not an extracted variant: {c['id']}")
        missing = set(found) - {(c["section"], c["number"]) for c in cat["clauses"]}
        for k in sorted(missing):
            print(f"extracted but missing from catalogue: SO-{k[0]}-{k[1]}")
            bad += 1
        print("OK" if not bad else f"{bad} problem(s)")
        return 1 if bad else 0

    seed = Path(argv[0]) if argv else DEFAULT_SEED
    found, raw = extract(seed)
    for key in sorted(found):
        variants = found[key]
        print(f"=== SO-{key[0]}-{key[1]}  ({len(variants)} variant(s), {sum(variants.values())} occurrence(s))")
        for v, cnt in variants.most_common():
            print(f"  [{cnt}] {raw[key][v]}")
    per_sec = collections.Counter(k[0] for k in found)
    print("sections:", dict(sorted(per_sec.items())), "clauses:", len(found))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
