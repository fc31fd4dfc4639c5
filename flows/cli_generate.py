"""``forestsync generate``: write a synthetic forest as LDIF (and optionally load it into Samba).

A plain function with Typer annotations, registered by the main CLI as a sub-command::

    from flows.cli_generate import generate
    app.command("generate")(generate)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer


def generate(
    users: Annotated[
        int, typer.Option("--users", min=0, help="user accounts (inetOrgPersons included)")
    ] = 1000,
    groups: Annotated[
        int, typer.Option("--groups", min=0, help="groups (built-in groups come on top)")
    ] = 100,
    domains: Annotated[
        int, typer.Option("--domains", min=1, help="domains: corp.example.com + children")
    ] = 1,
    seed: Annotated[int, typer.Option("--seed", help="same seed, byte-identical forest")] = 0,
    out: Annotated[Path, typer.Option("--out", help="LDIF file to write")] = Path("forest.ldif"),
    samba: Annotated[bool, typer.Option("--samba", help="also load the objects into the Samba DC")] = False,
    contacts: Annotated[int | None, typer.Option(help="contacts (default users/20)")] = None,
    computers: Annotated[int | None, typer.Option(help="computers (default users/4)")] = None,
    fold: Annotated[int, typer.Option(help="fold LDIF lines longer than this (0: never fold)")] = 76,
) -> None:
    """Generate a realistic, deterministic AD forest and write it as an LDIF content file."""
    from emulator.forest import generate_forest
    from emulator.ldif import write_ldif

    started = time.perf_counter()
    forest = generate_forest(users, groups, domains, seed, contacts=contacts, computers=computers)
    generated = time.perf_counter()
    count = write_ldif(
        forest,
        out,
        fold_width=fold or None,
        comment=f"forestsync generate --users {users} --groups {groups} --domains {domains} --seed {seed}",
    )
    written = time.perf_counter()
    typer.echo(
        f"{count} entries ({', '.join(f'{k}={v.height}' for k, v in forest.frames().items())}) -> {out} "
        f"[generate {generated - started:.1f}s, write {written - generated:.1f}s]"
    )
    if samba:
        try:
            from emulator import samba_loader  # type: ignore[attr-defined,unused-ignore]
        except ImportError:
            typer.echo("error: emulator.samba_loader is not available in this build", err=True)
            raise typer.Exit(2) from None
        samba_loader.load_forest(forest)
        typer.echo(f"loaded {count} entries into the Samba DC")
