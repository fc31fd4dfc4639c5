"""`forestsync expr check|eval` as rule authors use it."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from flows.cli_expr import expr_app

runner = CliRunner()
UPN = (
    "IIF(IsPresent([userPrincipalName]),[userPrincipalName], IIF(IsPresent([sAMAccountName]),"
    '([sAMAccountName]&"@"&%Domain.FQDN%),Error("AccountName is not present")))'
)


def test_check_accepts_a_default_rule_expression() -> None:
    result = runner.invoke(expr_app, ["check", UPN])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output


def test_check_reports_the_position_and_exits_2() -> None:
    result = runner.invoke(expr_app, ["check", 'Lfet("John", 2)'])
    assert result.exit_code == 2
    assert "did you mean Left" in result.output
    assert "line 1, column 1" in result.output
    assert "^^^^" in result.output


def test_eval_single_row_prints_one_json_line() -> None:
    result = runner.invoke(
        expr_app, ["eval", UPN, "--row", '{"sAMAccountName": "jdoe"}', "--param", "Domain.FQDN=contoso.com"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == '"jdoe@contoso.com"'


def test_eval_error_function_exits_3_with_the_message() -> None:
    result = runner.invoke(expr_app, ["eval", UPN, "--row", "{}", "--param", "Domain.FQDN=contoso.com"])
    assert result.exit_code == 3
    assert json.loads(result.output) == {"error": "AccountName is not present"}


def test_eval_rows_file_prints_one_value_per_line_on_both_engines(tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"p": ["SIP:a", "smtp:b"]}\n{"p": ["x"]}\n{"p": []}\n', encoding="utf-8")
    for engine in ("vectorized", "reference"):
        result = runner.invoke(expr_app, ["eval", "Item([p],2)", "--rows", str(rows), "--engine", engine])
        assert result.exit_code == 0, result.output
        lines = [json.loads(line) for line in result.output.splitlines()]
        assert lines[0] == "smtp:b"
        assert "error" in lines[1] and "error" in lines[2]


def test_eval_binary_and_dates_use_the_json_conventions() -> None:
    guid = runner.invoke(expr_app, ["eval", "[g]", "--row", '{"g": {"hex": "0102"}}'])
    assert json.loads(guid.output) == {"base64": "AQI="}
    date = runner.invoke(
        expr_app, ["eval", "DateFromNum(129699324000000000)", "--row", "{}", "--engine", "reference"]
    )
    assert json.loads(date.output) == "2012-01-01T23:00:00Z"
    special = runner.invoke(expr_app, ["eval", "IgnoreThisFlow", "--row", "{}"])
    assert json.loads(special.output) == {"special": "IgnoreThisFlow"}


def test_check_starts_fast() -> None:
    """CPU time, not wall time: the shared 2-core machine makes wall time depend on the neighbours."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    completed = subprocess.run(
        [sys.executable, "-m", "flows.cli_expr", "check", "Left([a],3)"], capture_output=True, check=False
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert completed.returncode == 0, completed.stderr
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert cpu < 1.5
