"""A real store for the operator commands: a generated forest imported from LDIF, synced with the
default rules, then exported to a stand-in Entra ID that rejects groups (so errors and pending exports
remain)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from emulator.forest import generate_forest
from emulator.ldif import write_ldif
from flows.config import Config, parse_config
from flows.connectors.factory import build_connector
from flows.rulesets import load_rule_set
from flows.stages.exporting import export_connector
from flows.stages.importing import import_connector_space
from flows.stages.syncing import synchronize
from flows.store import Store
from transforms.rules import SyncRule
from transforms.schema import EXPORT_RESULT_SCHEMA

RULES = Path(__file__).parents[2] / "rules"


@dataclass(frozen=True)
class Lab:
    """A built store: its configuration file, the configuration and the LDIF snapshot it imported."""

    config_path: Path
    config: Config
    ldif: Path


class GroupRejectingConnector:
    """Accepts every export except groups, which fail with a terminal error."""

    def __init__(self, name: str) -> None:
        self.name = name

    def object_types(self) -> list[str]:
        return ["user", "group", "contact", "device"]

    def export(self, plan: pl.DataFrame) -> pl.DataFrame:
        objects = plan.select("connector", "object_type", "_mv_id", "_anchor", "op").unique(
            ["connector", "_mv_id"], maintain_order=True
        )
        group = pl.col("object_type") == "group"
        return objects.with_columns(
            pl.coalesce("_anchor", pl.concat_str(pl.lit("id-"), pl.col("_mv_id"))).alias("_anchor"),
            pl.when(group).then(pl.lit("failure")).otherwise(pl.lit("success")).alias("status"),
            pl.when(group).then(pl.lit("export-rejected")).alias("error_type"),
            pl.lit(False).alias("transient"),
            pl.when(group).then(pl.lit("groups are not accepted here")).alias("message"),
        ).select(list(EXPORT_RESULT_SCHEMA))


@pytest.fixture(scope="module")
def rules() -> tuple[SyncRule, ...]:
    return load_rule_set([RULES], {"user_matching": "objects-once"})


def build_lab(folder: Path, rules: tuple[SyncRule, ...], *, export: bool) -> Lab:
    """Import and fully sync a small generated forest into ``folder/state.duckdb``."""
    forest = generate_forest(60, 6, 1, seed=5)
    ldif = folder / "forest.ldif"
    write_ldif(forest, ldif)
    text = f"""
store: {folder / "state.duckdb"}
rules: [{RULES}]
connectors:
  - name: lab
    kind: ldif
    path: {ldif}
    forest: corp.example.com
  - name: aad
    kind: aad
    tenant_id: t
    client_id: c
    client_secret: env:UNUSED
"""
    config_path = folder / "forestsync.yaml"
    config_path.write_text(text, encoding="utf-8")
    config = parse_config(text, str(config_path))
    with Store(config.store) as store:
        import_connector_space(
            store, build_connector(config.connector("lab"), config), cycle_id="c1", full=True
        )
        synchronize(store, config, rules, cycle_id="c1", mode="full")
        if export:
            export_connector(
                store,
                GroupRejectingConnector("aad"),
                kind="aad",
                cycle_id="c1",
                staging=False,
                deletion_threshold=None,
            )
    return Lab(config_path, config, ldif)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, rules: tuple[SyncRule, ...]) -> Lab:
    return build_lab(tmp_path_factory.mktemp("lab"), rules, export=True)
