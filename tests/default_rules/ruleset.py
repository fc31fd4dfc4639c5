"""Reading the default rule set from ``rules/default`` for the tests (reading files is the shell's job)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path

from flows.config import with_option_defaults
from transforms.rules import SyncRule, default_expression_checker, load_rule_texts

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"
DEFAULT_DIR = RULES_DIR / "default"
USER_MATCHING = ("objects-once", "mail", "account-resource", "samaccountname-mailnickname")


def rule_files(directory: Path = DEFAULT_DIR) -> list[tuple[str, str]]:
    return [
        (str(p.relative_to(RULES_DIR.parent)), p.read_text(encoding="utf-8"))
        for p in sorted(directory.rglob("*.yaml"))
    ]


def load_default_rules(
    user_matching: str = "objects-once",
    extra: list[tuple[str, str]] | None = None,
    options: Mapping[str, str] | None = None,
) -> tuple[SyncRule, ...]:
    """The default rules for one user-matching choice, plus ``extra`` ``(file, text)`` custom rules."""
    return _load(user_matching, tuple(extra or ()), tuple(sorted((options or {}).items())))


@functools.cache
def _load(
    user_matching: str, extra: tuple[tuple[str, str], ...], options: tuple[tuple[str, str], ...]
) -> tuple[SyncRule, ...]:
    return load_rule_texts(
        [*rule_files(), *extra],
        check_expression=default_expression_checker(),
        options=with_option_defaults({"user_matching": user_matching, **dict(options)}),
    )
