"""The emulator's token endpoint and bearer check, through the real azure-identity and msgraph-sdk."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CertificateCredential, ClientSecretCredential
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient

from emulator.graph import RunningEmulator
from tests.graph.conftest import ca_context

pytestmark = pytest.mark.graph
SCOPE = "https://graph.microsoft.com/.default"


def _secret_credential(emu: RunningEmulator, secret: str) -> ClientSecretCredential:
    return ClientSecretCredential(
        emu.tenant_id,
        emu.client_id,
        secret,
        authority=emu.authority,
        disable_instance_discovery=True,
        connection_verify=str(emu.ca_cert_path),
    )


def test_client_secret_credential_gets_a_token(emulator: RunningEmulator) -> None:
    """ClientSecretCredential authenticates against the emulator's HTTPS authority."""
    token = _secret_credential(emulator, emulator.client_secret).get_token(SCOPE)
    assert token.token.startswith("emu.")
    assert token.expires_on > 0


def test_certificate_credential_gets_a_token(emulator: RunningEmulator) -> None:
    """CertificateCredential's signed client assertion is verified against the registered certificate."""
    cred = CertificateCredential(
        emulator.tenant_id,
        emulator.client_id,
        str(emulator.client_certificate_path),
        authority=emulator.authority,
        disable_instance_discovery=True,
        connection_verify=str(emulator.ca_cert_path),
    )
    assert cred.get_token(SCOPE).token.startswith("emu.")


def test_wrong_secret_is_refused(emulator: RunningEmulator) -> None:
    """A wrong client secret fails authentication instead of yielding a token."""
    with pytest.raises(ClientAuthenticationError):
        _secret_credential(emulator, "not-the-secret").get_token(SCOPE)


@pytest.mark.parametrize("header", [None, "Bearer emu.forged", "Basic abc"])
def test_graph_calls_without_a_valid_token_get_401(emulator: RunningEmulator, header: str | None) -> None:
    """Graph resources answer 401 InvalidAuthenticationToken without a token the emulator issued."""
    headers = {"Authorization": header} if header else {}
    resp = httpx.get(f"{emulator.base_url}/users", headers=headers, verify=ca_context(emulator))
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_msgraph_sdk_typed_client_reads_users(emulator: RunningEmulator, graph_http: httpx.Client) -> None:
    """The SDK's GraphServiceClient (typed models) works against the emulator's wire format."""
    created = graph_http.post(
        "users",
        json={
            "accountEnabled": True,
            "displayName": "Sdk Reader",
            "mailNickname": "sdkreader",
            "userPrincipalName": "sdk.reader@contoso.com",
            "passwordProfile": {"password": "Str0ng!Passw0rd"},
        },
    )
    assert created.status_code == 201

    async def read() -> list[str]:
        cred = _secret_credential(emulator, emulator.client_secret)
        auth = AzureIdentityAuthenticationProvider(cred, scopes=[SCOPE], allowed_hosts=["127.0.0.1"])
        async with httpx.AsyncClient(verify=ca_context(emulator)) as http:
            adapter = GraphRequestAdapter(auth, client=http)
            adapter.base_url = emulator.base_url
            client = GraphServiceClient(request_adapter=adapter)
            page = await client.users.by_user_id(created.json()["id"]).get()
            assert page is not None
            return [str(page.user_principal_name)]

    assert asyncio.run(read()) == ["sdk.reader@contoso.com"]
