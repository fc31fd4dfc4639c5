"""Operator views over the sync state: search conditions and single-object diffs (pure)."""
