"""A real store for the operator commands: a generated forest imported from LDIF, synced with the
default rules, then exported to a stand-in Entra ID that rejects groups (so errors and pending exports
remain)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from flows.config import Config
from flows.connectors.factory import build_connector
from flows.rulesets import load_rule_set
from flows.stages.exporting import export_connector
from flows.stages.importing import import_connector_space
from flows.stages.syncing import synchronize
from flows.store import Store
from tests.lab import RULES, StandInTarget, generated_ldif, lab_config
from transforms.rules import SyncRule


@dataclass(frozen=True)
class Lab:
    """A built store: its configuration file, the configuration and the LDIF snapshot it imported."""

    config_path: Path
    config: Config
    ldif: Path


@pytest.fixture(scope="module")
def rules() -> tuple[SyncRule, ...]:
    return load_rule_set([RULES], {"user_matching": "objects-once"})


def build_lab(folder: Path, rules: tuple[SyncRule, ...], *, export: bool) -> Lab:
    """Import and fully sync a small generated forest into ``folder/state.duckdb``."""
    config_path, config = lab_config(folder, ldif := generated_ldif(folder))
    with Store(config.store) as store:
        import_connector_space(
            store, build_connector(config.connector("lab"), config), cycle_id="c1", full=True
        )
        synchronize(store, config, rules, cycle_id="c1", mode="full")
        if export:
            export_connector(
                store,
                StandInTarget("aad", rejects=("group",)),
                kind="aad",
                cycle_id="c1",
                staging=False,
                deletion_threshold=None,
            )
    return Lab(config_path, config, ldif)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, rules: tuple[SyncRule, ...]) -> Lab:
    return build_lab(tmp_path_factory.mktemp("lab"), rules, export=True)
