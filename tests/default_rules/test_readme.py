"""The rule examples of rules/README.md are valid rules, and the ones the scenario tests run."""

from __future__ import annotations

import re

from tests.default_rules.ruleset import RULES_DIR, load_default_rules
from tests.default_rules.test_scenarios import CUSTOM_DISPLAY_NAME, CUSTOM_NO_PHONE, CUSTOM_NO_SYNC


def test_the_readme_examples_are_the_tested_custom_rules() -> None:
    text = (RULES_DIR / "README.md").read_text(encoding="utf-8")
    examples = re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)

    assert examples == [CUSTOM_DISPLAY_NAME, CUSTOM_NO_PHONE, CUSTOM_NO_SYNC]
    rules = load_default_rules(extra=[(f"README.md#{i}", e) for i, e in enumerate(examples)])
    assert sorted(r.precedence for r in rules if r.immutable_tag is None) == [40, 50, 51]
