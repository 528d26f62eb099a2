"""Checks: pure functions from typed facts to findings, each mapped to システム運用編 clauses."""
