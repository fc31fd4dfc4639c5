"""Users' ``manager`` through users/delta: the emulator's wire format and the Entra connector's import."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from emulator.graph import RunningEmulator
from flows.connectors.aad import AadConnector
from tests.graph.conftest import new_user_body, settings_for

pytestmark = pytest.mark.graph


def _delta_items(http: httpx.Client, start: str) -> tuple[dict[str, dict[str, Any]], str]:
    """Every item of one delta round from ``start``, by id, and the round's deltaLink."""
    items: dict[str, dict[str, Any]] = {}
    url = start
    while True:
        page = http.get(url)
        page.raise_for_status()
        body = page.json()
        items.update({item["id"]: item for item in body["value"]})
        if "@odata.nextLink" in body:
            url = body["@odata.nextLink"]
            continue
        return items, body["@odata.deltaLink"]


def _ref(http: httpx.Client, user: str, manager: str | None) -> None:
    if manager is None:
        resp = http.delete(f"users/{user}/manager/$ref")
    else:
        resp = http.put(
            f"users/{user}/manager/$ref", json={"@odata.id": f"{http.base_url}directoryObjects/{manager}"}
        )
    assert resp.status_code == 204, resp.text


def test_users_delta_reports_manager_as_graph_does(graph_http: httpx.Client) -> None:
    """``$select=manager`` on users/delta: ``manager@delta`` names the manager (a fresh round: the current
    one), a later round the new one, or the removed one marked ``@removed``; no entry while it is unchanged."""
    ids = [graph_http.post("users", json=new_user_body()).json()["id"] for _ in range(3)]
    boss, other, report = ids
    _ref(graph_http, report, boss)

    items, link = _delta_items(graph_http, "users/delta?$select=displayName,manager")
    assert items[report]["manager@delta"] == [{"@odata.type": "#microsoft.graph.user", "id": boss}]
    assert "manager" not in items[report]  # a navigation property, not a property of the user
    assert "manager@delta" not in items[boss]

    _ref(graph_http, report, other)
    items, link = _delta_items(graph_http, link)
    assert items[report]["manager@delta"] == [{"@odata.type": "#microsoft.graph.user", "id": other}]

    _ref(graph_http, report, None)
    items, link = _delta_items(graph_http, link)
    assert items[report]["manager@delta"] == [
        {"@odata.type": "#microsoft.graph.user", "id": other, "@removed": {"reason": "deleted"}}
    ]

    graph_http.patch(f"users/{report}", json={"jobTitle": "Clerk"}).raise_for_status()
    items, link = _delta_items(graph_http, link)
    assert "manager@delta" not in items[report]

    # Without manager in $select, users/delta says nothing of it.
    _ref(graph_http, report, boss)
    items, _ = _delta_items(graph_http, "users/delta?$select=displayName")
    assert "manager@delta" not in items[report]


def test_import_reads_managers_and_their_changes(new_emulator: Callable[..., RunningEmulator]) -> None:
    """A full import reads each user's manager (its object id); a delta import reports a manager set,
    changed, removed, or gone with its deleted manager, and leaves it out of ``_changed`` otherwise."""
    emu = new_emulator()
    d = emu.directory
    u = [
        d.seed("user", {"displayName": f"M{i}", "userPrincipalName": f"m{i}@contoso.com"}).id
        for i in range(6)
    ]
    d.set_manager(u[1], u[0])
    d.set_manager(u[2], u[0])
    d.set_manager(u[3], u[1])
    conn = AadConnector(settings_for(emu, object_types=("user",)))

    first = conn.full_import()
    [batch] = first.batches
    managers = dict(batch.frame.select("_anchor", "manager").iter_rows())
    assert managers == {u[0]: None, u[1]: u[0], u[2]: u[0], u[3]: u[1], u[4]: None, u[5]: None}

    d.set_manager(u[4], u[0])  # set
    d.set_manager(u[2], u[5])  # changed
    d.remove_manager(u[1])  # removed
    d.update(u[5], "user", {"displayName": "renamed"})  # changed, but not its manager
    d.delete(u[3], "user")
    second = conn.delta_import(first.watermarks)
    [delta] = second.batches
    rows = {r["_anchor"]: r for r in delta.frame.to_dicts()}
    assert set(rows) == {u[1], u[2], u[4], u[5]}
    assert (rows[u[4]]["manager"], rows[u[2]]["manager"], rows[u[1]]["manager"]) == (u[0], u[5], None)
    assert all("manager" in rows[i]["_changed"] for i in (u[1], u[2], u[4]))
    assert "manager" not in rows[u[5]]["_changed"] and rows[u[5]]["displayName"] == "renamed"
    assert delta.deleted.to_list() == [u[3]]

    # A manager deleted takes the link with it: its reports' manager is cleared in the next round.
    d.delete(u[0], "user")
    [gone] = conn.delta_import(second.watermarks).batches
    assert gone.frame["_anchor"].to_list() == [u[4]] and gone.deleted.to_list() == [u[0]]
    assert gone.frame["manager"].to_list() == [None] and "manager" in gone.frame["_changed"][0]


def test_an_attribute_inclusion_list_keeps_the_manager() -> None:
    """``attributes:`` of the aad connector is one list for every type: users keep ``manager`` (once), as
    groups keep ``members``, and neither goes to a type that lacks it."""
    from flows.config import AadConnectorConfig
    from flows.connectors.aad_settings import AadSettings

    def select(attributes: list[str]) -> dict[str, tuple[str, ...]]:
        config = AadConnectorConfig(
            name="aad",
            kind="aad",
            tenant_id="t",
            client_id="c",
            client_secret="env:UNUSED",
            attributes=attributes,
        )
        return AadSettings.from_config(config).select

    assert select(["displayName"])["user"] == ("displayName", "manager")
    assert select(["displayName"])["group"] == ("displayName", "members")
    assert select(["manager", "displayName"])["user"] == ("displayName", "manager")
    # Navigation properties go only to the type that has them (Graph rejects them on the others).
    assert select(["manager", "members", "displayName"])["group"] == ("displayName", "members")
    assert select(["manager", "members", "displayName"])["contact"] == ("displayName",)


def test_manager_changes_survive_a_saved_tenant(new_emulator: Callable[..., RunningEmulator]) -> None:
    """The emulator's saved state keeps what users/delta needs to report a manager change."""
    from emulator.graph.store import Directory

    d = new_emulator().directory
    boss, report = (
        d.seed("user", {"displayName": n, "userPrincipalName": f"{n}@contoso.com"}).id for n in "ab"
    )
    since = d.seq
    d.set_manager(report, boss)
    loaded = Directory.from_json(json.loads(json.dumps(d.to_json())))
    assert loaded.manager_change(report, since) == (None, boss)
    assert loaded.manager_change(report, loaded.seq) is None
