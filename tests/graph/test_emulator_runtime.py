"""Throttling, fault injection and persistence of the emulator."""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from emulator.graph import FaultConfig, RunningEmulator, ThrottleConfig, start
from tests.graph.conftest import ca_context, new_user_body, token_for

pytestmark = pytest.mark.graph


def _client(emu: RunningEmulator) -> httpx.Client:
    return httpx.Client(
        base_url=emu.base_url + "/",
        verify=ca_context(emu),
        headers={"Authorization": f"Bearer {token_for(emu)}"},
    )


def test_writes_beyond_the_budget_get_429_with_retry_after(
    new_emulator: Callable[..., RunningEmulator],
) -> None:
    """With 5 writes per 60 s, the 6th write is refused with 429 and a Retry-After in whole seconds;
    reads are not counted, and a $batch counts each of its writes."""
    emu = new_emulator(throttle=ThrottleConfig(writes=5, window_s=60))
    with _client(emu) as graph:
        for _ in range(3):
            assert graph.post("users", json=new_user_body()).status_code == 201
        assert graph.get("users").status_code == 200
        batch = [
            {
                "id": str(i),
                "method": "POST",
                "url": "/users",
                "headers": {"Content-Type": "application/json"},
                "body": new_user_body(),
            }
            for i in range(3)
        ]
        statuses = [r["status"] for r in graph.post("$batch", json={"requests": batch}).json()["responses"]]
        assert statuses == [201, 201, 429]
        refused = graph.post("users", json=new_user_body())
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "TooManyRequests"
        assert 55 <= int(refused.headers["Retry-After"]) <= 60


def test_dropped_connection_after_the_write(new_emulator: Callable[..., RunningEmulator]) -> None:
    """A 'drop' fault applies the write and then breaks the response: the client sees a transport error."""
    emu = new_emulator(faults=FaultConfig(rate_drop=1.0))
    body = new_user_body()
    with _client(emu) as graph, pytest.raises(httpx.TransportError):
        graph.post("users", json=body)
    assert [u.props["userPrincipalName"] for u in emu.directory.of_kind("user")] == [
        body["userPrincipalName"]
    ]


def test_injected_503_applies_nothing(new_emulator: Callable[..., RunningEmulator]) -> None:
    """A 503 fault answers before processing, with Retry-After, and writes nothing."""
    emu = new_emulator(faults=FaultConfig(rate_503=1.0, retry_after_s=2))
    with _client(emu) as graph:
        resp = graph.post("users", json=new_user_body())
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "2"
    assert emu.directory.count("user") == 0


def test_state_survives_a_restart(tmp_path: Path) -> None:
    """With a state file the tenant, its app credentials and its CA survive a restart."""
    state = tmp_path / "tenant.json"
    first = start(state_file=state)
    try:
        with _client(first) as graph:
            user = graph.post("users", json=new_user_body()).json()
            link = graph.get("users/delta?$select=displayName").json()["@odata.deltaLink"]
    finally:
        first.stop()
    second = start(state_file=state)
    try:
        assert (second.tenant_id, second.client_id, second.client_secret) == (
            first.tenant_id,
            first.client_id,
            first.client_secret,
        )
        with _client(second) as graph:
            assert graph.get(f"users/{user['id']}").json()["userPrincipalName"] == user["userPrincipalName"]
            graph.patch(f"users/{user['id']}", json={"displayName": "after restart"})
            path = link.split("/v1.0/", 1)[1]
            assert graph.get(path).json()["value"] == [{"id": user["id"], "displayName": "after restart"}]
    finally:
        second.stop()


def test_binds_to_loopback_only() -> None:
    """The emulator refuses to listen on a non-loopback address."""
    with pytest.raises(ValueError, match="loopback"):
        start(host="0.0.0.0")


def test_list_paging_with_next_link(new_emulator: Callable[..., RunningEmulator]) -> None:
    """GET /users?$top=999 pages through @odata.nextLink, keeping $select and $filter."""
    emu = new_emulator()
    for i in range(1200):
        emu.directory.seed(
            "user",
            {
                "displayName": f"L{i}",
                "userPrincipalName": f"l{i}@contoso.com",
                "department": "A" if i % 2 else "B",
            },
        )
    with _client(emu) as graph:
        first = graph.get("users", params={"$top": "999", "$select": "id,department"}).json()
        assert len(first["value"]) == 999
        second = graph.get(first["@odata.nextLink"]).json()
        assert len(second["value"]) == 201
        assert "@odata.nextLink" not in second
        assert set(second["value"][0]) == {"id", "department"}
        ids = [u["id"] for u in first["value"] + second["value"]]
        assert len(set(ids)) == 1200
        filtered = graph.get("users", params={"$top": "500", "$filter": "department eq 'A'"})
        assert filtered.status_code == 400  # department is not filterable without advanced queries


def test_serve_command_prints_how_to_reach_the_tenant() -> None:
    """`emulator serve` prints base URL, tenant, client id, secret and CA; the printed credentials work;
    SIGTERM stops it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "flows.cli_emulator", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(8)]
        info = json.loads(lines[-1])
        assert lines[0].strip() == f"Graph base URL : {info['base_url']}"
        assert info["extension_app_id"] == info["client_id"]  # the demo app is the schema app
        assert info["base_url"].startswith("https://127.0.0.1:")
        ctx = ssl.create_default_context(cafile=info["ca_cert_path"])
        token = httpx.post(
            f"{info['authority']}/{info['tenant_id']}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": info["client_id"],
                "client_secret": info["client_secret"],
            },
            verify=ctx,
        ).json()["access_token"]
        users = httpx.get(
            f"{info['base_url']}/users", headers={"Authorization": f"Bearer {token}"}, verify=ctx
        )
        assert users.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
