"""`forestsync generate` writes the forest as LDIF, deterministically."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from flows.cli_generate import generate
from flows.connectors.ldif import parse_ldif


def app() -> typer.Typer:
    cli = typer.Typer()
    cli.command("generate")(generate)
    cli.command("noop")(lambda: None)  # two commands, so "generate" is a sub-command as in the main CLI
    return cli


def test_generate_writes_a_parseable_deterministic_ldif(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["generate", "--users", "200", "--groups", "10", "--domains", "2", "--seed", "9"]
    first = runner.invoke(app(), [*args, "--out", str(tmp_path / "a.ldif")])
    second = runner.invoke(app(), [*args, "--out", str(tmp_path / "b.ldif")])
    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    a, b = (tmp_path / "a.ldif").read_bytes(), (tmp_path / "b.ldif").read_bytes()
    assert a == b
    assert a.startswith(b"# forestsync generate --users 200 --groups 10 --domains 2 --seed 9\nversion: 1\n")
    parsed = parse_ldif(tmp_path / "a.ldif")
    assert parsed.entries == int(first.output.split()[0])
    assert {"user", "inetOrgPerson", "group", "contact", "computer", "organizationalUnit"} <= set(
        parsed.frames
    )


def test_generate_without_folding(tmp_path: Path) -> None:
    out = tmp_path / "f.ldif"
    result = CliRunner().invoke(
        app(), ["generate", "--users", "50", "--groups", "5", "--fold", "0", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert not any(line.startswith(" ") for line in out.read_text().splitlines())
