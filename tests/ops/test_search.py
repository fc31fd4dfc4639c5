"""``forestsync search`` filters the metaverse and connector spaces by attribute conditions."""

from __future__ import annotations

import json
from typing import Any

import polars as pl
from typer.testing import CliRunner

from flows.cli import app
from flows.store import Store
from tests.ops.conftest import Lab

runner = CliRunner()


def _search(lab: Lab, *args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["search", *args, "--config", str(lab.config_path), "--json"])
    assert result.exit_code == 0, result.output
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def test_metaverse_contains_search_matches_a_direct_filter(lab: Lab) -> None:
    """``--mv person -w displayName~an`` finds exactly the persons whose displayName contains "an"."""
    with Store(lab.config.store, read_only=True) as store:
        persons = store.read_metaverse("person")
    assert persons is not None
    expected = persons.filter(pl.col("displayName").str.to_lowercase().str.contains("an", literal=True))
    found = _search(lab, "--mv", "person", "-w", "displayName~an", "-n", "1000")
    assert 0 < found["matched"] == expected.height < persons.height
    assert sorted(o["_mv_id"] for o in found["objects"]) == sorted(expected["_mv_id"])
    assert all("an" in o["displayName"].lower() for o in found["objects"])


def test_connector_space_equals_search_with_links(lab: Lab) -> None:
    """``--cs lab --type user -w department=Finance`` lists those users with their metaverse ids."""
    with Store(lab.config.store, read_only=True) as store:
        users = store.read_connector_space("lab", "user")
    assert users is not None
    expected = users.filter(pl.col("department") == "Finance")
    found = _search(lab, "--cs", "lab", "--type", "user", "-w", "department=Finance", "-a", "mail")
    assert found["matched"] == expected.height > 0
    assert [o["_anchor"] for o in found["objects"]] == sorted(expected["_anchor"])
    assert all(o["department"] == "Finance" and "mail" in o for o in found["objects"])
    assert all(o["_mv_id"] for o in found["objects"])


def test_search_over_every_type_of_a_connector_and_limit(lab: Lab) -> None:
    """Without ``--type`` every object type is searched; ``--limit`` caps the list, not the count."""
    found = _search(lab, "--cs", "lab", "-w", "proxyAddresses?", "-n", "3")
    assert len(found["objects"]) == 3 < found["matched"]
    everything = _search(lab, "--cs", "lab", "-w", "proxyAddresses?", "-n", "1000")
    assert {o["object_type"] for o in everything["objects"]} >= {"user", "contact"}


def test_pending_export_lists_the_objects_still_to_export(lab: Lab) -> None:
    """After an export that rejected groups, the aad pending exports are exactly the group adds."""
    with Store(lab.config.store, read_only=True) as store:
        pending = store.query("SELECT DISTINCT _mv_id FROM pending_exports WHERE connector = 'aad'")
    found = _search(lab, "--cs", "aad", "--pending", "export", "-n", "1000")
    assert found["matched"] == pending.height > 0
    assert {(o["object_type"], o["_export"]) for o in found["objects"]} == {("group", "add")}
    assert _search(lab, "--cs", "aad", "--pending", "export", "--op", "update")["matched"] == 0


def test_table_output_names_the_count(lab: Lab) -> None:
    """The table's title gives the conditions and how many matched."""
    result = runner.invoke(
        app,
        ["search", "--mv", "group", "-w", "displayName?", "-n", "2", "--config", str(lab.config_path)],
        env={"COLUMNS": "250"},
    )
    assert result.exit_code == 0, result.output
    assert "displayName? —" in result.stdout and "first 2 shown" in result.stdout


def test_unknown_attribute_fails_with_a_suggestion(lab: Lab) -> None:
    """A misspelt attribute exits 2 and suggests the real name."""
    result = runner.invoke(
        app, ["search", "--mv", "person", "-w", "displayname=x", "-c", str(lab.config_path)]
    )
    assert result.exit_code == 2
    assert "did you mean displayName" in result.output


def test_metaverse_and_connector_space_are_exclusive(lab: Lab) -> None:
    """``--mv`` together with ``--cs`` is refused."""
    result = runner.invoke(app, ["search", "--mv", "person", "--cs", "lab", "-c", str(lab.config_path)])
    assert result.exit_code == 2
    assert "either the metaverse" in result.output


def test_conditions_on_system_columns(lab: Lab) -> None:
    """``-w _dn~ou=finance`` filters on the DN column without repeating it in the output."""
    found = _search(lab, "--cs", "lab", "--type", "user", "-w", "_dn~ou=finance", "-n", "1000")
    assert found["matched"] > 0
    assert all("ou=finance" in o["_dn"].lower() for o in found["objects"])
    assert list(found["objects"][0]) == ["connector", "object_type", "_anchor", "_dn", "_mv_id", "_pending"]
