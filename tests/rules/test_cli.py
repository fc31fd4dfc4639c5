"""``forestsync rules check``."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml
from typer.testing import CliRunner

from flows.cli_rules import rules_app
from tests.rules.test_loader import GOOD

SCHEMA = Path(__file__).resolve().parents[2] / "rules" / "sync-rule.schema.json"


def test_check_passes_a_valid_folder(tmp_path: Path) -> None:
    """A folder of valid rules exits 0 and counts them."""
    (tmp_path / "a.yaml").write_text(GOOD)
    result = CliRunner().invoke(rules_app, ["check", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "1 rule(s)" in result.output


def test_check_exits_2_and_lists_every_error(tmp_path: Path) -> None:
    """Errors of every file are printed positioned, and the exit code is 2."""
    (tmp_path / "a.yaml").write_text(GOOD.replace("direction: inbound", "direction: up"))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yml").write_text(GOOD.replace("precedence: 100", "precedence: zero"))
    result = CliRunner().invoke(rules_app, ["check", str(tmp_path)])
    assert result.exit_code == 2
    assert f"{tmp_path / 'a.yaml'}:4:" in result.output
    assert f"{tmp_path / 'sub' / 'b.yml'}:8:" in result.output


def test_json_schema_accepts_the_format() -> None:
    """The editor JSON Schema accepts a complete rule file."""
    jsonschema.validate(yaml.safe_load(GOOD), json.loads(SCHEMA.read_text()))


def test_bench_rule_set_passes_the_check() -> None:
    """The benchmark's rule set (25 inbound, 12 outbound) is valid under the loader and expression check."""
    folder = Path(__file__).resolve().parents[2] / "bench" / "rules"
    result = CliRunner().invoke(rules_app, ["check", str(folder)])
    assert result.exit_code == 0, result.output
    assert "37 rule(s)" in result.output


DEFAULT_RULES = SCHEMA.parent / "default"


def test_check_takes_rule_set_options() -> None:
    """The user-matching option defaults to the configuration's default; -o chooses another, checked."""
    default = CliRunner().invoke(rules_app, ["check", str(DEFAULT_RULES)])
    assert default.exit_code == 0, default.output
    wrong = CliRunner().invoke(rules_app, ["check", str(DEFAULT_RULES), "-o", "user_matching=fuzzy"])
    assert wrong.exit_code == 2
    assert "user_matching='fuzzy' is not offered" in wrong.output
    result = CliRunner().invoke(rules_app, ["check", str(DEFAULT_RULES), "-o", "user_matching=mail"])
    assert result.exit_code == 0, result.output
    assert "32 rule(s) in 38 file(s): ok" in result.output


def test_check_rejects_an_option_without_a_value() -> None:
    result = CliRunner().invoke(rules_app, ["check", str(DEFAULT_RULES), "-o", "user_matching"])
    assert result.exit_code == 2
    assert "expected NAME=VALUE" in result.output


def test_json_schema_accepts_every_default_rule_file() -> None:
    schema = json.loads(SCHEMA.read_text())
    files = sorted(DEFAULT_RULES.rglob("*.yaml"))
    assert len(files) == 38
    for path in files:
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
