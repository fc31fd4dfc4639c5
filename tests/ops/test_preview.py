"""``forestsync preview`` shows what a full sync would change on one object, and writes nothing."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.connectors.factory import build_connector
from flows.stages.importing import import_connector_space
from flows.store import Store
from tests.ops.conftest import Lab, build_lab
from transforms.rules import SyncRule

runner = CliRunner()


@dataclass(frozen=True)
class Changed:
    """A synced lab whose forest then renamed one user's displayName, imported but not yet synced."""

    lab: Lab
    dn: str
    mv_id: str
    old: str
    new: str


@pytest.fixture(scope="module")
def changed(tmp_path_factory: pytest.TempPathFactory, rules: tuple[SyncRule, ...]) -> Changed:
    lab = build_lab(tmp_path_factory.mktemp("changed"), rules, export=False)
    text = lab.ldif.read_text(encoding="utf-8")
    with Store(lab.config.store) as store:
        users = store.query(
            """SELECT u._dn, u.displayName, l._mv_id FROM cs__lab__user u
               JOIN links l ON l.connector = 'lab' AND l._anchor = u._anchor
               WHERE u.displayName IS NOT NULL
                 AND EXISTS (SELECT 1 FROM links a WHERE a.connector = 'aad' AND a._mv_id = l._mv_id)
               ORDER BY u._anchor"""
        )
        dn, old, mv_id = next(
            (d, n, m) for d, n, m in users.iter_rows() if text.count(f"\ndisplayName: {n}\n") == 1
        )
        new = old + " (renamed)"
        lab.ldif.write_text(
            text.replace(f"\ndisplayName: {old}\n", f"\ndisplayName: {new}\n"), encoding="utf-8"
        )
        step = import_connector_space(
            store, build_connector(lab.config.connector("lab"), lab.config), cycle_id="c2", full=True
        )
        assert step["counters"]["stage-update"] == 1
    return Changed(lab, dn, mv_id, old, new)


def _preview(lab: Lab, name: str) -> dict[str, Any]:
    result = runner.invoke(app, ["preview", name, "--config", str(lab.config_path), "--json"])
    assert result.exit_code == 0, result.output
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_preview_shows_the_metaverse_change_with_the_winning_rule(changed: Changed) -> None:
    """The renamed displayName is an update old -> new credited to the rule that flows it."""
    with Store(changed.lab.config.store, read_only=True) as store:
        rule = store.query(
            "SELECT rule FROM mv_provenance WHERE _mv_id = ? AND attribute = 'displayName'", [changed.mv_id]
        )["rule"][0]
    report = _preview(changed.lab, changed.dn)
    assert report["mv_id_before"] == report["mv_id_after"] == changed.mv_id
    assert [c for c in report["changes"] if c["attribute"] == "displayName"] == [
        {
            "attribute": "displayName",
            "change": "update",
            "old_value": changed.old,
            "new_value": changed.new,
            "connector": "lab",
            "rule": rule,
        }
    ]
    assert report["links_added"] == [] and report["links_removed"] == []


def test_preview_lists_the_pending_exports_it_would_produce(changed: Changed) -> None:
    """The Entra ID export of the object carries the new displayName."""
    exports = _preview(changed.lab, changed.mv_id)["pending_exports"]
    display = [e for e in exports if e["connector"] == "aad" and e["attribute"] == "displayName"]
    assert [e["new_value"] for e in display] == [changed.new]


def test_preview_writes_nothing(changed: Changed) -> None:
    """The store file is byte-identical after a preview, and the metaverse keeps the old value."""
    before = _digest(changed.lab.config.store)
    _preview(changed.lab, changed.dn)
    assert _digest(changed.lab.config.store) == before
    with Store(changed.lab.config.store, read_only=True) as store:
        value = store.query("SELECT displayName FROM mv__person WHERE _mv_id = ?", [changed.mv_id])
    assert value["displayName"][0] == changed.old


def test_preview_of_an_unchanged_object_changes_nothing(lab: Lab) -> None:
    """An object already synced with no new import has no metaverse or link changes."""
    with Store(lab.config.store, read_only=True) as store:
        mv_id = store.query("SELECT min(_mv_id) AS m FROM mv__person WHERE displayName IS NOT NULL")["m"][0]
    report = _preview(lab, mv_id)
    assert report["changes"] == [] and report["links_added"] == [] and report["links_removed"] == []


def test_pending_import_search_finds_the_renamed_user(changed: Changed) -> None:
    """``--pending import --op update`` lists exactly the one re-imported user."""
    result = runner.invoke(
        app,
        [
            "search",
            "--cs",
            "lab",
            "--pending",
            "import",
            "--op",
            "update",
            "-c",
            str(changed.lab.config_path),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["matched"] == 1 and found["objects"][0]["_dn"] == changed.dn
    assert found["objects"][0]["_pending"] == "update"
