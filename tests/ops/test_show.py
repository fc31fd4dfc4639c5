"""``forestsync show`` resolves an object by metaverse id, anchor or DN and shows its properties."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from flows.cli import app
from flows.store import Store
from tests.ops.conftest import Lab

runner = CliRunner()


def _show(lab: Lab, name: str, *extra: str) -> dict[str, Any]:
    result = runner.invoke(app, ["show", name, *extra, "--config", str(lab.config_path), "--json"])
    assert result.exit_code == 0, result.output
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def _a_user(lab: Lab) -> dict[str, Any]:
    """A synced user of the lab connector with a display name, projected and provisioned to aad."""
    with Store(lab.config.store, read_only=True) as store:
        rows = store.query(
            """SELECT u._anchor, u._dn, u.displayName, l._mv_id FROM cs__lab__user u
               JOIN links l ON l.connector = 'lab' AND l._anchor = u._anchor
               WHERE u.displayName IS NOT NULL
                 AND EXISTS (SELECT 1 FROM links a WHERE a.connector = 'aad' AND a._mv_id = l._mv_id)
               ORDER BY u._anchor LIMIT 1"""
        )
    return rows.row(0, named=True)


def test_anchor_resolves_to_the_metaverse_object_with_provenance(lab: Lab) -> None:
    """An anchor shows the joined metaverse object; each attribute names its connector and rule."""
    user = _a_user(lab)
    shown = _show(lab, user["_anchor"])
    assert shown["mv_id"] == user["_mv_id"] and shown["mv_object_type"] == "person"
    display = next(a for a in shown["attributes"] if a["attribute"] == "displayName")
    assert display["value"] == user["displayName"]
    assert display["connector"] == "lab" and display["rule"].startswith("In from AD - User")


def test_lineage_lists_the_inbound_and_outbound_links(lab: Lab) -> None:
    """The lineage has the projecting AD link and the Entra ID link provisioned by the outbound rule."""
    shown = _show(lab, _a_user(lab)["_mv_id"])
    lineage = {(x["connector"], x["link_type"], x["direction"]) for x in shown["lineage"]}
    assert lineage == {("lab", "Provision", "inbound"), ("aad", "Provision", "outbound")}
    images = {i["connector"]: i for i in shown["connector_objects"]}
    assert images["lab"]["pending_import"] == "none" and images["lab"]["attributes"]


def test_dn_resolves_case_insensitively(lab: Lab) -> None:
    """A DN in another case names the same object."""
    user = _a_user(lab)
    assert _show(lab, user["_dn"].upper())["mv_id"] == user["_mv_id"]


def test_object_with_a_failed_export_shows_pending_exports_and_errors(lab: Lab) -> None:
    """A group the target rejected still has pending exports (old/new values) and its export error."""
    with Store(lab.config.store, read_only=True) as store:
        mv_id = store.query("SELECT min(_mv_id) AS m FROM pending_exports WHERE object_type = 'group'")["m"][
            0
        ]
    shown = _show(lab, mv_id)
    assert shown["pending_exports"] and {p["op"] for p in shown["pending_exports"]} == {"add"}
    assert all(p["old_value"] is None for p in shown["pending_exports"])
    assert [e["error_type"] for e in shown["errors"]] == ["export-rejected"]


def test_unknown_object_fails(lab: Lab) -> None:
    """A name that is no metaverse id, anchor or DN exits 2."""
    result = runner.invoke(app, ["show", "CN=nobody", "--config", str(lab.config_path)])
    assert result.exit_code == 2
    assert "no metaverse object, connector-space anchor or DN" in result.output


def test_table_output_has_the_sections(lab: Lab) -> None:
    """The table view prints attributes, lineage, pending exports and errors."""
    result = runner.invoke(
        app, ["show", _a_user(lab)["_anchor"], "-c", str(lab.config_path)], env={"COLUMNS": "250"}
    )
    assert result.exit_code == 0, result.output
    for section in ("attributes", "lineage", "pending exports", "errors"):
        assert section in result.stdout


def test_disconnector_shows_its_connector_space_image_only(lab: Lab) -> None:
    """An object no inbound rule took has no metaverse object; its imported image is shown."""
    with Store(lab.config.store, read_only=True) as store:
        anchor = store.query(
            """SELECT min(u._anchor) AS a FROM cs__lab__user u
               WHERE NOT EXISTS (SELECT 1 FROM links l WHERE l.connector = 'lab' AND l._anchor = u._anchor)"""
        )["a"][0]
    assert anchor is not None
    shown = _show(lab, anchor)
    assert shown["mv_id"] is None and shown["attributes"] == [] and shown["lineage"] == []
    assert [(i["connector"], i["anchor"]) for i in shown["connector_objects"]] == [("lab", anchor)]
    assert shown["connector_objects"][0]["attributes"]


def test_connector_option_narrows_anchor_and_keeps_metaverse_ids(lab: Lab) -> None:
    """``--connector`` restricts anchor lookup to that connector; a metaverse id still resolves."""
    user = _a_user(lab)
    assert _show(lab, user["_mv_id"], "--connector", "lab")["mv_id"] == user["_mv_id"]
    result = runner.invoke(app, ["show", user["_anchor"], "--connector", "aad", "-c", str(lab.config_path)])
    assert result.exit_code == 2
