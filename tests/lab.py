"""A small generated lab shared by the stage and operator tests: forest, configuration, stand-in target."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from emulator.forest import generate_forest
from emulator.ldif import write_ldif
from flows.config import Config, parse_config
from transforms.schema import EXPORT_RESULT_SCHEMA

RULES = Path(__file__).parents[1] / "rules"

AAD_STUB = """
  - name: aad
    kind: aad
    tenant_id: t
    client_id: c
    client_secret: env:UNUSED
"""


def generated_ldif(folder: Path, users: int = 60, groups: int = 6, seed: int = 5) -> Path:
    """A generated one-domain forest written to ``folder/forest.ldif``."""
    ldif = folder / "forest.ldif"
    write_ldif(generate_forest(users, groups, 1, seed=seed), ldif)
    return ldif


def lab_config(folder: Path, ldif: Path, *, with_aad: bool = True) -> tuple[Path, Config]:
    """``folder/forestsync.yaml`` with the LDIF connector ``lab`` (and an Entra connector ``aad``), parsed."""
    text = f"""
store: {folder / "state.duckdb"}
rules: [{RULES}]
connectors:
  - name: lab
    kind: ldif
    path: {ldif}
    forest: corp.example.com
{AAD_STUB if with_aad else ""}"""
    path = folder / "forestsync.yaml"
    path.write_text(text, encoding="utf-8")
    return path, parse_config(text, str(path))


class StandInTarget:
    """Stands in for Entra ID: accepts every export and assigns anchors, except object types it rejects,
    which fail with the terminal error ``export-rejected``. Records every plan it was given."""

    def __init__(self, name: str, rejects: tuple[str, ...] = ()) -> None:
        self.name = name
        self.rejects = rejects
        self.plans: list[pl.DataFrame] = []

    def object_types(self) -> list[str]:
        return ["user", "group", "contact", "device"]

    def export(self, plan: pl.DataFrame) -> pl.DataFrame:
        self.plans.append(plan)
        objects = plan.select("connector", "object_type", "_mv_id", "_anchor", "op").unique(
            ["connector", "_mv_id"], maintain_order=True
        )
        rejected = pl.col("object_type").is_in(list(self.rejects))
        message = f"this stand-in target rejects {', '.join(self.rejects)}"
        return objects.with_columns(
            pl.coalesce("_anchor", pl.concat_str(pl.lit("id-"), pl.col("_mv_id"))).alias("_anchor"),
            pl.when(rejected).then(pl.lit("failure")).otherwise(pl.lit("success")).alias("status"),
            pl.when(rejected).then(pl.lit("export-rejected")).alias("error_type"),
            pl.lit(False).alias("transient"),
            pl.when(rejected).then(pl.lit(message)).alias("message"),
        ).select(list(EXPORT_RESULT_SCHEMA))
