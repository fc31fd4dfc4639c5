"""``forestsync rules``: lint sync-rule folders (mounted by ``flows/cli.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

rules_app = typer.Typer(help="Sync rules: check rule files.", no_args_is_help=True)

EXIT_INVALID = 2


@rules_app.callback()
def rules() -> None:
    """Sync rules: one YAML file per rule (see rules/sync-rule.schema.json)."""


@rules_app.command("check")
def check(
    folder: Annotated[Path, typer.Argument(help="Folder of rule files (searched recursively).")] = Path(
        "rules"
    ),
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            "-o",
            help="Rule-set option NAME=VALUE choosing rule variants (e.g. user_matching=mail); repeatable.",
        ),
    ] = None,
) -> None:
    """Load every rule file of FOLDER and report every problem with file, line and column (exit 2).

    Rule-set options default to the configuration's defaults (``user_matching=objects-once``).
    """
    from flows.config import Config
    from flows.rulesets import load_rule_files, read_rule_files
    from transforms.rules import RuleFileError

    if not folder.is_dir():
        typer.echo(f"{folder}: not a folder", err=True)
        raise typer.Exit(EXIT_INVALID)
    options: dict[str, str] = dict(Config().rule_options)
    for item in option or []:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            typer.echo(f"--option {item!r}: expected NAME=VALUE", err=True)
            raise typer.Exit(EXIT_INVALID)
        options[name] = value
    files = read_rule_files(folder)
    try:
        rules = load_rule_files(files, options)
    except RuleFileError as exc:
        for issue in exc.issues:
            typer.echo(str(issue), err=True)
        typer.echo(f"{len(exc.issues)} problem(s) in {len(files)} file(s)", err=True)
        raise typer.Exit(EXIT_INVALID) from exc
    typer.echo(f"{len(rules)} rule(s) in {len(files)} file(s): ok")
