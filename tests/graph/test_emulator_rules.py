"""Graph's write rules and directory semantics as the emulator enforces them (wire-level checks)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from emulator.graph import RunningEmulator
from tests.graph.conftest import new_user_body, uid

pytestmark = pytest.mark.graph


def _error(resp: httpx.Response) -> dict[str, Any]:
    body = resp.json()
    assert set(body) == {"error"}
    return dict(body["error"])


@pytest.mark.parametrize(
    "prop,value",
    [
        ("proxyAddresses", ["SMTP:a@contoso.com"]),
        ("onPremisesSamAccountName", "sam"),
        ("onPremisesSecurityIdentifier", "S-1-5-21-1-2-3-1000"),
        ("onPremisesDistinguishedName", "CN=a,DC=contoso,DC=com"),
        ("onPremisesDomainName", "contoso.com"),
        ("onPremisesUserPrincipalName", "a@contoso.local"),
        ("onPremisesSyncEnabled", True),
    ],
)
def test_read_only_user_properties_are_refused(graph_http: httpx.Client, prop: str, value: Any) -> None:
    """Creating or patching a user with a read-only property gets the service's 400."""
    resp = graph_http.post("users", json=new_user_body(**{prop: value}))
    assert resp.status_code == 400
    err = _error(resp)
    assert err["code"] == "Request_BadRequest"
    assert err["message"] == f"Property '{prop}' is read-only and cannot be set."
    user = graph_http.post("users", json=new_user_body()).json()
    assert graph_http.patch(f"users/{user['id']}", json={prop: value}).status_code == 400


@pytest.mark.parametrize(
    "prop,value", [("mail", "g@contoso.com"), ("proxyAddresses", ["SMTP:g@contoso.com"])]
)
def test_read_only_group_properties_are_refused(graph_http: httpx.Client, prop: str, value: Any) -> None:
    """A group's mail and proxyAddresses cannot be written through Graph."""
    body = {
        "displayName": "G",
        "mailEnabled": False,
        "mailNickname": f"g{uid()}",
        "securityEnabled": True,
        prop: value,
    }
    resp = graph_http.post("groups", json=body)
    assert resp.status_code == 400
    assert "read-only" in _error(resp)["message"]


@pytest.mark.parametrize(
    "missing", ["accountEnabled", "displayName", "mailNickname", "userPrincipalName", "passwordProfile"]
)
def test_required_user_properties(graph_http: httpx.Client, missing: str) -> None:
    """A user create without one of the required properties is refused."""
    body = new_user_body()
    del body[missing]
    resp = graph_http.post("users", json=body)
    assert resp.status_code == 400, resp.text
    assert missing in _error(resp)["message"]


def test_weak_password_is_refused(graph_http: httpx.Client) -> None:
    """The password must meet complexity requirements."""
    resp = graph_http.post("users", json=new_user_body(passwordProfile={"password": "password"}))
    assert resp.status_code == 400
    assert "complexity" in _error(resp)["message"]


def test_length_limits(graph_http: httpx.Client) -> None:
    """displayName is limited to 256 characters; mailNickname to 64."""
    assert graph_http.post("users", json=new_user_body(displayName="x" * 257)).status_code == 400
    assert graph_http.post("users", json=new_user_body(displayName="x" * 256)).status_code == 201
    assert graph_http.post("users", json=new_user_body(mailNickname="n" * 65)).status_code == 400


def test_unverified_domain_refused_for_cloud_user_and_replaced_for_synced_user(
    graph_http: httpx.Client, emulator: RunningEmulator
) -> None:
    """A cloud UPN must be in a verified domain; a synchronized one gets the initial domain."""
    u = uid()
    cloud = graph_http.post("users", json=new_user_body(userPrincipalName=f"c{u}@unverified.example"))
    assert cloud.status_code == 400
    assert _error(cloud)["details"][0]["target"] == "userPrincipalName"
    synced = graph_http.post(
        "users",
        json=new_user_body(userPrincipalName=f"s{u}@unverified.example", onPremisesImmutableId=f"imm{u}"),
    )
    assert synced.status_code == 201
    assert synced.json()["userPrincipalName"] == f"s{u}@{emulator.directory.initial_domain}"


def test_only_security_and_microsoft_365_groups_can_be_created(graph_http: httpx.Client) -> None:
    """Distribution and mail-enabled security groups are refused; security and Unified groups are created."""
    nick = f"g{uid()}"
    distribution = {"displayName": "D", "mailEnabled": True, "mailNickname": nick, "securityEnabled": False}
    mail_security = {**distribution, "securityEnabled": True}
    assert graph_http.post("groups", json=distribution).status_code == 400
    assert graph_http.post("groups", json=mail_security).status_code == 400
    security = {"displayName": "S", "mailEnabled": False, "mailNickname": nick, "securityEnabled": True}
    assert graph_http.post("groups", json=security).status_code == 201
    m365 = {**distribution, "groupTypes": ["Unified"], "mailNickname": f"m{uid()}"}
    created = graph_http.post("groups", json=m365)
    assert created.status_code == 201
    assert created.json()["mail"].startswith(m365["mailNickname"] + "@")


def test_org_contacts_are_read_only(graph_http: httpx.Client, emulator: RunningEmulator) -> None:
    """Organizational contacts cannot be created or changed; seeded ones can be read."""
    assert graph_http.post("contacts", json={"displayName": "C"}).status_code == 405
    contact = emulator.directory.seed(
        "orgContact", {"displayName": "Seeded", "mail": f"c{uid()}@fabrikam.com"}
    )
    assert graph_http.get(f"contacts/{contact.id}").json()["displayName"] == "Seeded"
    assert graph_http.patch(f"contacts/{contact.id}", json={"displayName": "X"}).status_code == 405


def test_cloud_upn_conflict_is_refused(graph_http: httpx.Client) -> None:
    """Between cloud objects a duplicate UPN is the service's ObjectConflict on userPrincipalName."""
    first = new_user_body()
    assert graph_http.post("users", json=first).status_code == 201
    again = graph_http.post("users", json=new_user_body(userPrincipalName=first["userPrincipalName"].upper()))
    assert again.status_code == 400
    err = _error(again)
    assert (
        err["message"] == "Another object with the same value for property userPrincipalName already exists."
    )
    assert err["details"][0] == {
        "code": "ObjectConflict",
        "message": err["message"],
        "target": "userPrincipalName",
    }


def test_synced_upn_conflict_is_quarantined(graph_http: httpx.Client, emulator: RunningEmulator) -> None:
    """Duplicate attribute resiliency: the second synced UPN becomes <prefix><4 digits>@<initial domain>."""
    u = uid()
    upn = f"dup{u}@contoso.com"
    a = graph_http.post("users", json=new_user_body(userPrincipalName=upn, onPremisesImmutableId=f"a{u}"))
    b = graph_http.post("users", json=new_user_body(userPrincipalName=upn, onPremisesImmutableId=f"b{u}"))
    assert a.status_code == b.status_code == 201
    placeholder = b.json()["userPrincipalName"]
    assert re.fullmatch(rf"dup{u}\d{{4}}@{re.escape(emulator.directory.initial_domain)}", placeholder)
    errors = graph_http.get(f"users/{b.json()['id']}?$select=onPremisesProvisioningErrors").json()
    [error] = errors["onPremisesProvisioningErrors"]
    assert error["category"] == "PropertyConflict"
    assert error["propertyCausingError"] == "UserPrincipalName"
    assert error["value"] == upn


def test_synced_proxy_conflict_is_dropped(emulator: RunningEmulator, graph_http: httpx.Client) -> None:
    """A proxy address another synced object holds is dropped and recorded, the object is still written."""
    u = uid()
    d = emulator.directory
    d.seed(
        "user",
        {
            "displayName": "A",
            "userPrincipalName": f"pa{u}@contoso.com",
            "onPremisesImmutableId": f"pa{u}",
            "proxyAddresses": [f"SMTP:shared{u}@contoso.com"],
        },
    )
    b = d.seed(
        "user",
        {
            "displayName": "B",
            "userPrincipalName": f"pb{u}@contoso.com",
            "onPremisesImmutableId": f"pb{u}",
            "proxyAddresses": [f"SMTP:pb{u}@contoso.com", f"smtp:shared{u}@contoso.com"],
        },
    )
    seen = graph_http.get(f"users/{b.id}?$select=proxyAddresses,onPremisesProvisioningErrors").json()
    assert seen["proxyAddresses"] == [f"SMTP:pb{u}@contoso.com"]
    assert seen["onPremisesProvisioningErrors"][0]["propertyCausingError"] == "ProxyAddresses"


@pytest.mark.parametrize("prop", ["onPremisesImmutableId", "mail"])
def test_immutable_id_and_mail_are_unique(graph_http: httpx.Client, prop: str) -> None:
    """onPremisesImmutableId and mail (an SMTP address) cannot be held by two objects."""
    value = f"v{uid()}@contoso.com"
    assert graph_http.post("users", json=new_user_body(**{prop: value})).status_code == 201
    resp = graph_http.post("users", json=new_user_body(**{prop: value}))
    assert resp.status_code == 400
    assert _error(resp)["details"][0]["code"] == "ObjectConflict"


def test_soft_delete_and_restore(graph_http: httpx.Client) -> None:
    """A deleted user goes to deleted items, frees its UPN, and can be restored."""
    user = graph_http.post("users", json=new_user_body()).json()
    assert graph_http.delete(f"users/{user['id']}").status_code == 204
    assert graph_http.get(f"users/{user['id']}").status_code == 404
    deleted = graph_http.get("directory/deletedItems/microsoft.graph.user").json()["value"]
    assert user["id"] in {d["id"] for d in deleted}
    restored = graph_http.post(f"directory/deletedItems/{user['id']}/restore")
    assert restored.status_code == 200
    assert graph_http.get(f"users/{user['id']}").json()["userPrincipalName"] == user["userPrincipalName"]


def test_extension_properties_must_be_registered(graph_http: httpx.Client, emulator: RunningEmulator) -> None:
    """extension_<appId>_<name> is writable once registered on the application, and filterable."""
    name = f"anchor{uid()}"
    full = f"extension_{emulator.client_id.replace('-', '')}_{name}"
    assert graph_http.post("users", json=new_user_body(**{full: "x"})).status_code == 400
    reg = graph_http.post(
        f"applications/{emulator.application_object_id}/extensionProperties",
        json={"name": name, "dataType": "String", "targetObjects": ["User"]},
    )
    assert reg.status_code == 201
    assert reg.json()["name"] == full
    user = graph_http.post("users", json=new_user_body(**{full: "anchor-1"}))
    assert user.status_code == 201
    found = graph_http.get(
        "users", params={"$filter": f"{full} eq 'anchor-1'", "$select": f"id,{full}"}
    ).json()
    assert found["value"] == [{"id": user.json()["id"], full: "anchor-1"}]


def test_filters_graph_supports(graph_http: httpx.Client, emulator: RunningEmulator) -> None:
    """eq on onPremisesImmutableId / userPrincipalName / mail and proxyAddresses/any(...) select the object."""
    u = uid()
    obj = emulator.directory.seed(
        "user",
        {
            "displayName": "F",
            "userPrincipalName": f"f{u}@contoso.com",
            "mail": f"f{u}@contoso.com",
            "onPremisesImmutableId": f"f{u}",
            "proxyAddresses": [f"SMTP:f{u}@contoso.com", f"smtp:alias{u}@contoso.com"],
        },
    )
    for flt in (
        f"onPremisesImmutableId eq 'f{u}'",
        f"userPrincipalName eq 'F{u}@CONTOSO.COM'",
        f"mail eq 'f{u}@contoso.com'",
        f"proxyAddresses/any(p:p eq 'SMTP:alias{u}@contoso.com')",
        f"startswith(displayName,'F') and onPremisesImmutableId eq 'f{u}'",
    ):
        resp = graph_http.get("users", params={"$filter": flt, "$select": "id"})
        assert resp.status_code == 200, (flt, resp.text)
        assert [v["id"] for v in resp.json()["value"]] == [obj.id], flt
    unsupported = graph_http.get("users", params={"$filter": "city eq 'Paris'"})
    assert unsupported.status_code == 400
    assert _error(unsupported)["code"] == "Request_UnsupportedQuery"


def test_top_is_limited_to_999(graph_http: httpx.Client) -> None:
    """$top above 999 is refused."""
    assert graph_http.get("users", params={"$top": "1000"}).status_code == 400
    assert graph_http.get("users", params={"$top": "999"}).status_code == 200


def test_batch_depends_on_and_limits(graph_http: httpx.Client) -> None:
    """$batch runs relative URLs, fails dependants of a failed request with 424, refuses more than 20."""
    good = new_user_body()
    requests = [
        {
            "id": "1",
            "method": "POST",
            "url": "/users",
            "headers": {"Content-Type": "application/json"},
            "body": good,
        },
        {
            "id": "2",
            "method": "GET",
            "url": f"users/{good['userPrincipalName']}?$select=id,displayName",
            "dependsOn": ["1"],
        },
        {
            "id": "3",
            "method": "POST",
            "url": "/users",
            "headers": {"Content-Type": "application/json"},
            "body": {"displayName": "missing fields"},
        },
        {"id": "4", "method": "GET", "url": "/users?$top=1", "dependsOn": ["3"]},
    ]
    resp = graph_http.post("$batch", json={"requests": requests})
    assert resp.status_code == 200
    by_id = {r["id"]: r for r in resp.json()["responses"]}
    assert by_id["1"]["status"] == 201
    assert by_id["2"]["status"] == 200
    assert by_id["2"]["body"]["displayName"] == good["displayName"]
    assert by_id["3"]["status"] == 400
    assert by_id["4"]["status"] == 424
    too_many = [{"id": str(i), "method": "GET", "url": "/users?$top=1"} for i in range(21)]
    assert graph_http.post("$batch", json={"requests": too_many}).status_code == 400


def test_members_ref_and_bind(graph_http: httpx.Client) -> None:
    """members/$ref adds one, members@odata.bind adds up to 20, duplicates and absent members are refused."""
    users = [graph_http.post("users", json=new_user_body()).json()["id"] for _ in range(22)]
    group = graph_http.post(
        "groups",
        json={"displayName": "M", "mailEnabled": False, "mailNickname": f"m{uid()}", "securityEnabled": True},
    ).json()["id"]
    ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{users[0]}"}
    assert graph_http.post(f"groups/{group}/members/$ref", json=ref).status_code == 204
    assert graph_http.post(f"groups/{group}/members/$ref", json=ref).status_code == 400

    def bind(ids: list[str]) -> dict[str, list[str]]:
        return {"members@odata.bind": [f"https://graph.microsoft.com/v1.0/directoryObjects/{i}" for i in ids]}

    assert graph_http.patch(f"groups/{group}", json=bind(users[1:22])).status_code == 400  # 21 members
    assert graph_http.patch(f"groups/{group}", json=bind(users[1:21])).status_code == 204
    members = graph_http.get(f"groups/{group}/members", params={"$select": "id", "$top": "999"}).json()[
        "value"
    ]
    assert [m["id"] for m in members] == users[:21]
    assert graph_http.delete(f"groups/{group}/members/{users[0]}/$ref").status_code == 204
    assert graph_http.delete(f"groups/{group}/members/{users[0]}/$ref").status_code == 404


def test_user_delta_returns_only_later_changes(graph_http: httpx.Client) -> None:
    """A deltaLink returns the objects changed after it was issued, and deletions as @removed."""
    a = graph_http.post("users", json=new_user_body()).json()["id"]
    b = graph_http.post("users", json=new_user_body()).json()["id"]
    link = None
    url: str | None = "users/delta?$select=displayName"
    while url:
        page = graph_http.get(url).json()
        url = page.get("@odata.nextLink")
        link = page.get("@odata.deltaLink", link)
    assert link is not None
    graph_http.patch(f"users/{a}", json={"displayName": "Changed"})
    graph_http.delete(f"users/{b}")
    page = graph_http.get(link).json()
    assert page["value"] == [
        {"id": a, "displayName": "Changed"},
        {"id": b, "@removed": {"reason": "changed"}},
    ]
    assert graph_http.get(page["@odata.deltaLink"]).json()["value"] == []


def test_group_delta_has_members_delta(graph_http: httpx.Client) -> None:
    """/groups/delta with members selected reports member additions and removals as members@delta."""
    u1, u2 = (graph_http.post("users", json=new_user_body()).json()["id"] for _ in range(2))
    group = graph_http.post(
        "groups",
        json={"displayName": "D", "mailEnabled": False, "mailNickname": f"d{uid()}", "securityEnabled": True},
    ).json()["id"]
    graph_http.post(f"groups/{group}/members/$ref", json={"@odata.id": f"directoryObjects/{u1}"})
    link = None
    url: str | None = "groups/delta?$select=displayName,members"
    while url:
        page = graph_http.get(url).json()
        mine = [g for g in page["value"] if g["id"] == group]
        if mine:
            assert mine[0]["members@delta"] == [{"@odata.type": "#microsoft.graph.user", "id": u1}]
        url = page.get("@odata.nextLink")
        link = page.get("@odata.deltaLink", link)
    assert link is not None
    graph_http.post(f"groups/{group}/members/$ref", json={"@odata.id": f"directoryObjects/{u2}"})
    graph_http.delete(f"groups/{group}/members/{u1}/$ref")
    [changed] = graph_http.get(link).json()["value"]
    assert changed["id"] == group
    assert changed["members@delta"] == [
        {"@odata.type": "#microsoft.graph.user", "id": u2},
        {"@odata.type": "#microsoft.graph.user", "id": u1, "@removed": {"reason": "deleted"}},
    ]


def test_quarantined_upn_is_given_back_when_the_conflict_clears(
    graph_http: httpx.Client, emulator: RunningEmulator
) -> None:
    """The periodic re-check restores a quarantined UPN once the object holding it is gone."""
    u = uid()
    upn = f"back{u}@contoso.com"
    a = graph_http.post(
        "users", json=new_user_body(userPrincipalName=upn, onPremisesImmutableId=f"ba{u}")
    ).json()
    b = graph_http.post(
        "users", json=new_user_body(userPrincipalName=upn, onPremisesImmutableId=f"bb{u}")
    ).json()
    assert b["userPrincipalName"] != upn
    recheck = f"{emulator.origin}/_emulator/reapply-quarantined"
    graph_http.post(recheck)
    assert graph_http.get(f"users/{b['id']}").json()["userPrincipalName"] != upn  # A still holds it
    graph_http.delete(f"users/{a['id']}")
    assert graph_http.post(recheck).json()["restored"] >= 1
    after = graph_http.get(f"users/{b['id']}?$select=userPrincipalName,onPremisesProvisioningErrors").json()
    assert after["userPrincipalName"] == upn
    assert after["onPremisesProvisioningErrors"] is None
