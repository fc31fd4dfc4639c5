"""The Graph emulator started in-process on 127.0.0.1 (port 0), and the Entra connector pointed at it."""

from __future__ import annotations

import json
import os
import ssl
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import polars as pl
import pytest

from emulator.graph import RunningEmulator, ThrottleConfig, start
from flows.connectors.aad import AadConnector
from flows.connectors.aad_settings import AadSettings
from transforms.schema import PENDING_EXPORT_SCHEMA

FAST = ThrottleConfig(writes=1_000_000, window_s=1.0)


@pytest.fixture(scope="session")
def emulator() -> Iterator[RunningEmulator]:
    emu = start(throttle=FAST, seed=7)
    yield emu
    emu.stop()


@pytest.fixture
def new_emulator() -> Iterator[Callable[..., RunningEmulator]]:
    """A private emulator for tests that need their own throttle, faults or an empty tenant."""
    started: list[RunningEmulator] = []

    def factory(**kwargs: Any) -> RunningEmulator:
        kwargs.setdefault("throttle", FAST)
        emu = start(**kwargs)
        started.append(emu)
        return emu

    yield factory
    for emu in started:
        emu.stop()


def ca_context(emu: RunningEmulator) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(emu.ca_cert_path))


def token_for(emu: RunningEmulator) -> str:
    with httpx.Client(verify=ca_context(emu)) as client:
        resp = client.post(
            f"{emu.authority}/{emu.tenant_id}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": emu.client_id,
                "client_secret": emu.client_secret,
                "scope": "https://graph.microsoft.com/.default",
            },
        )
        resp.raise_for_status()
        return str(resp.json()["access_token"])


@pytest.fixture
def graph_http(emulator: RunningEmulator) -> Iterator[httpx.Client]:
    """A plain authenticated HTTP client on the emulator's /v1.0 root (wire-format checks)."""
    with httpx.Client(
        base_url=emulator.base_url + "/",
        verify=ca_context(emulator),
        headers={"Authorization": f"Bearer {token_for(emulator)}"},
    ) as client:
        yield client


def settings_for(emu: RunningEmulator, **overrides: Any) -> AadSettings:
    env = f"FS_TEST_AAD_SECRET_{emu.port}"
    os.environ[env] = emu.client_secret
    values: dict[str, Any] = {
        "name": "aad",
        "tenant_id": emu.tenant_id,
        "client_id": emu.client_id,
        "graph_base_url": emu.base_url,
        "authority": emu.authority,
        "disable_instance_discovery": True,
        "ca_cert_path": str(emu.ca_cert_path),
        "secret_ref": f"env:{env}",
        "write_budget": 1_000_000,
        "write_window_s": 1.0,
        "timeout_s": 10.0,
    }
    values.update(overrides)
    return AadSettings(**values)


@pytest.fixture
def connector(emulator: RunningEmulator) -> AadConnector:
    return AadConnector(settings_for(emulator))


def uid() -> str:
    return uuid.uuid4().hex[:10]


def new_user_body(**extra: Any) -> dict[str, Any]:
    u = uid()
    return {
        "accountEnabled": True,
        "displayName": f"User {u}",
        "mailNickname": f"u{u}",
        "userPrincipalName": f"u{u}@contoso.com",
        "passwordProfile": {"password": "Str0ng!Passw0rd"},
        **extra,
    }


def plan(*objects: dict[str, Any], connector: str = "aad") -> pl.DataFrame:
    """A PENDING_EXPORT frame: each object is {mv_id, anchor?, type, op, attrs: {name: new | (old, new)}}."""
    rows: list[dict[str, Any]] = []
    for obj in objects:
        base = {
            "connector": connector,
            "object_type": obj["type"],
            "_mv_id": obj.get("mv_id"),
            "_anchor": obj.get("anchor"),
            "_dn": None,
            "op": obj["op"],
        }
        if obj["op"] == "delete":
            rows.append({**base, "attribute": None, "old_value": None, "new_value": None})
            continue
        for name, value in obj.get("attrs", {}).items():
            old, new = value if isinstance(value, tuple) else (None, value)
            rows.append(
                {
                    **base,
                    "attribute": name,
                    "old_value": None if old is None else json.dumps(old),
                    "new_value": None if new is None else json.dumps(new),
                }
            )
    return pl.DataFrame(rows, schema=PENDING_EXPORT_SCHEMA)


def user_attrs(tag: str, **extra: Any) -> dict[str, Any]:
    return {
        "accountEnabled": True,
        "displayName": f"User {tag}",
        "mailNickname": f"u{tag}",
        "userPrincipalName": f"u{tag}@contoso.com",
        "onPremisesImmutableId": f"imm-{tag}",
        **extra,
    }


def group_attrs(tag: str, **extra: Any) -> dict[str, Any]:
    return {
        "displayName": f"Group {tag}",
        "mailEnabled": False,
        "mailNickname": f"g{tag}",
        "securityEnabled": True,
        **extra,
    }
