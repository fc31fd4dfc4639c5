"""Data-driven compliance: every case of cases/*.json through the reference evaluator and the compiler."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.expressions.harness import Outcome, load_cases, run_reference, run_vectorized
from transforms.expressions.jsonvalue import decode

CASES = load_cases()


def check(outcome: Outcome, case: dict[str, Any], expected_error: str | None) -> None:
    if expected_error is not None:
        assert outcome.status == "error", f"expected a {expected_error} error, got {outcome.value!r}"
        assert outcome.kind == expected_error, outcome.message
        if "message" in case:
            assert case["message"] in outcome.message
        return
    assert outcome.status == "value", f"unexpected {outcome.kind} error: {outcome.message}"
    if "result_pattern" in case:
        assert isinstance(outcome.value, str) and re.match(case["result_pattern"], outcome.value)
        return
    expected = decode(case["result"])
    assert outcome.value == expected
    assert type(outcome.value) is type(expected)


@pytest.mark.parametrize(("case_id", "case"), CASES, ids=[c[0] for c in CASES])
def test_reference(case_id: str, case: dict[str, Any]) -> None:
    check(run_reference(case), case, case.get("error"))


@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
@pytest.mark.parametrize(("case_id", "case"), CASES, ids=[c[0] for c in CASES])
def test_vectorized(case_id: str, case: dict[str, Any], lazy: bool) -> None:
    check(run_vectorized(case, lazy), case, case.get("vectorized_error", case.get("error")))


def test_every_documented_function_has_a_case() -> None:
    from transforms.expressions.functions import REGISTRY

    text = " ".join(case["expression"] for _, case in CASES)
    missing = [name for name in REGISTRY if not re.search(rf"\b{name}\(", text)]
    assert missing == [], f"functions without a compliance case: {missing}"
