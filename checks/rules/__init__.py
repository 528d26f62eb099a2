"""One rule of the guideline, judged in one place for every OS.

Each module here is a pure function from plain numbers (ages, counts, thresholds from config/policy.yaml)
to a Verdict that carries the status, the clause ids and the Japanese/English wording. The Linux and
Windows checks are thin adapters: they turn their typed facts into those numbers and emit the verdict
with `CheckContext.verdict`, so the same evidence reads the same on both OSes (tests/test_rules_cross_os.py).
"""
