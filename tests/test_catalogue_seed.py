"""Check config/catalogue.yaml (システム運用編 clause catalogue) against the seed.

The seed is the PDF text of the 各編間相関表 of the MHLW 医療情報システムの安全管理に
関するガイドライン 第6.0版. Its directory is taken from $TENKEN_SEED_DIR, or
defaults to <repo>/../shared/seeds. Seed-dependent tests are skipped if the seed
is absent; structural tests always run.

Uses only pyyaml and the standard library.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CATALOGUE = REPO / "config" / "catalogue.yaml"
SEED_NAME = "000_fc7d0f300d02c1ad.txt"
SEED_DIR = Path(os.environ.get("TENKEN_SEED_DIR") or (REPO.parent / "shared" / "seeds"))
SEED = SEED_DIR / SEED_NAME

ALLOWED_CLASSES = {"host", "network", "partial", "procedural"}
WS = re.compile(r"\s+")


def _squash(s: str) -> str:
    return WS.sub("", s)


@pytest.fixture(scope="module")
def catalogue() -> dict:
    with CATALOGUE.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="module")
def clauses(catalogue) -> dict:
    return {c["id"]: c for c in catalogue["clauses"]}


@pytest.fixture(scope="module")
def seed_text() -> str:
    if not SEED.is_file():
        pytest.skip(f"seed {SEED_NAME} not found in {SEED_DIR} (set TENKEN_SEED_DIR)")
    return _squash(SEED.read_text(encoding="utf-8"))


def test_schema_and_source(catalogue):
    assert catalogue["schema"] == "tenken.catalogue/v1"
    assert list(catalogue)[:4] == ["schema", "source", "sections", "clauses"]
    src = catalogue["source"]
    assert "システム運用編" in src["title"] and "第6.0版" in src["title"]
    assert src["publisher"] and src["extracted_from"]


def test_eighteen_sections_with_titles(catalogue):
    sections = catalogue["sections"]
    assert [s["number"] for s in sections] == list(range(1, 19))
    for s in sections:
        assert isinstance(s["title_ja"], str) and s["title_ja"].strip(), s
        assert isinstance(s["title_en"], str) and s["title_en"].strip(), s
    titles = {s["number"]: s["title_ja"] for s in sections}
    assert titles[13] == "ネットワークに関する安全管理措置"
    assert titles[14] == "認証・認可に関する安全管理措置"
    assert titles[17] == "証跡のレビュー・システム監査"
    assert titles[18] == "外部からの攻撃に対する安全管理措置"


def test_ids_unique_and_well_formed(catalogue):
    ids = [c["id"] for c in catalogue["clauses"]]
    assert len(ids) == len(set(ids)), "duplicate clause ids"
    for c in catalogue["clauses"]:
        assert isinstance(c["section"], int) and isinstance(c["number"], int), c["id"]
        assert c["id"] == f"SO-{c['section']}-{c['number']}"


def test_clause_numbers_contiguous_per_section(catalogue):
    by_section: dict[int, list[int]] = {}
    for c in catalogue["clauses"]:
        by_section.setdefault(c["section"], []).append(c["number"])
    assert sorted(by_section) == list(range(1, 19)), "every section needs at least one clause"
    for sec, nums in by_section.items():
        assert sorted(nums) == list(range(1, max(nums) + 1)), f"gap in section {sec}: {sorted(nums)}"


def test_clause_fields(catalogue):
    for c in catalogue["clauses"]:
        assert c["class"] in ALLOWED_CLASSES, c["id"]
        assert isinstance(c["text_ja"], str) and c["text_ja"].strip(), c["id"]
        assert "\n" not in c["text_ja"], f"{c['id']}: text_ja must be one line"
        assert isinstance(c["gloss_en"], str) and c["gloss_en"].strip(), c["id"]
        if c["class"] in ("partial", "procedural"):
            for key in ("question_ja", "question_en"):
                assert isinstance(c.get(key), str) and c[key].strip(), f"{c['id']}: {key}"


def test_texts_verbatim_in_seed(catalogue, seed_text):
    missing = [c["id"] for c in catalogue["clauses"] if _squash(c["text_ja"]) not in seed_text]
    assert not missing, f"text_ja not found in seed: {missing}"


def test_section_titles_in_seed(catalogue, seed_text):
    for s in catalogue["sections"]:
        assert _squash(s["title_ja"]) in seed_text, s["number"]


# Anchors verified against the seed.
ANCHORS = {
    "SO-7-3": ["暗号化", "持出し"],
    "SO-7-12": ["リモートログイン"],
    "SO-8-2": ["パターンファイル"],
    "SO-8-3": ["セキュリティ・パッチ"],
    "SO-8-5": ["起動パスワード", "出荷時"],
    "SO-11-1": ["数世代バックアップ", "不正ソフトウェア"],
    "SO-11-2": ["死活監視"],
    "SO-12-4": ["バックアップ"],
    "SO-13-6": ["TLS1.3", "クライアント証明書"],
    "SO-13-13": ["無線LAN", "WPA2"],
    "SO-14-5": ["二要素認証", "令和９年度"],
    "SO-14-6": ["パスワード", "類推", "不可逆"],
    "SO-14-7": ["ID", "台帳", "棚卸"],
    "SO-17-1": ["アクセスログ"],
    "SO-17-2": ["改ざん"],
    "SO-17-3": ["時刻", "標準時刻"],
    "SO-18-1": ["数世代", "バックアップ"],
}


@pytest.mark.parametrize("cid,needles", sorted(ANCHORS.items()))
def test_anchor_clauses(clauses, cid, needles):
    text = _squash(clauses[cid]["text_ja"])
    for needle in needles:
        assert needle in text, f"{cid} should mention {needle}"


def test_anchor_classes(clauses):
    assert clauses["SO-13-6"]["class"] == "network"
    assert clauses["SO-14-6"]["class"] == "host"
    assert clauses["SO-17-3"]["class"] == "host"
    assert clauses["SO-14-7"]["class"] == "partial"
