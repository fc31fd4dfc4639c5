"""Settings of the Entra ID connector and how its credential is built.

A small frozen dataclass until ``flows.config.AadConnectorConfig`` is wired in: :meth:`AadSettings.from_config`
adapts that model by attribute name, so the connector does not depend on its exact shape.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field, fields
from typing import Any

from transforms.errors import InputError

DEFAULT_SELECT: dict[str, tuple[str, ...]] = {
    "user": (
        "displayName",
        "givenName",
        "surname",
        "userPrincipalName",
        "mail",
        "mailNickname",
        "accountEnabled",
        "department",
        "jobTitle",
        "companyName",
        "employeeId",
        "usageLocation",
        "proxyAddresses",
        "onPremisesImmutableId",
        "onPremisesSyncEnabled",
        "onPremisesSecurityIdentifier",
        "onPremisesSamAccountName",
        "onPremisesProvisioningErrors",
    ),
    "group": (
        "displayName",
        "description",
        "mailNickname",
        "mail",
        "mailEnabled",
        "securityEnabled",
        "groupTypes",
        "proxyAddresses",
        "onPremisesSecurityIdentifier",
        "onPremisesSyncEnabled",
        "members",
    ),
    "contact": (
        "displayName",
        "givenName",
        "surname",
        "mail",
        "mailNickname",
        "proxyAddresses",
        "companyName",
        "department",
        "jobTitle",
        "onPremisesSyncEnabled",
    ),
    "device": (
        "displayName",
        "deviceId",
        "accountEnabled",
        "operatingSystem",
        "operatingSystemVersion",
        "trustType",
        "onPremisesSyncEnabled",
        "onPremisesSecurityIdentifier",
    ),
}

CREDENTIAL_KINDS = ("client_secret", "certificate", "managed_identity", "default")


@dataclass(frozen=True)
class AadSettings:
    """Everything the Entra ID connector needs; secrets are references (``env:NAME``, ``prefect:BLOCK``)."""

    name: str
    tenant_id: str
    client_id: str
    graph_base_url: str = "https://graph.microsoft.com/v1.0"
    authority: str = "https://login.microsoftonline.com"
    disable_instance_discovery: bool = False  # True for a private authority such as the emulator
    ca_cert_path: str | None = None  # trust this CA for Graph and the authority (the emulator's)
    credential_kind: str = "client_secret"
    secret_ref: str | None = None  # client secret, or the certificate's password for "certificate"
    certificate_path: str | None = None  # PEM with private key, for "certificate"
    scopes: tuple[str, ...] = ("https://graph.microsoft.com/.default",)
    object_types: tuple[str, ...] = ("user", "group", "contact", "device")
    select: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_SELECT))
    # The attribute that carries the source anchor per object type; a conflict on it is a hard match.
    # Groups have no onPremisesImmutableId in Graph v1.0: give them a registered extension property.
    anchor_attributes: dict[str, str] = field(
        default_factory=lambda: {"user": "onPremisesImmutableId", "device": "deviceId"}
    )
    block_soft_match: bool = False
    block_cloud_object_takeover_through_hard_match: bool = False
    soft_match_on_upn: bool = True
    write_budget: int = 3000
    write_window_s: float = 150.0
    max_concurrency: int = 4
    timeout_s: float = 60.0
    max_attempts: int = 8

    def __post_init__(self) -> None:
        if self.credential_kind not in CREDENTIAL_KINDS:
            raise InputError(
                f"credential kind {self.credential_kind!r} is not one of {', '.join(CREDENTIAL_KINDS)}"
            )
        unknown = set(self.object_types) - set(DEFAULT_SELECT)
        if unknown:
            raise InputError(f"unknown Entra object types: {sorted(unknown)}")

    def __repr__(self) -> str:  # secrets are references, but keep even those out of logs
        shown = ", ".join(
            f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.name != "secret_ref"
        )
        return f"AadSettings({shown})"

    @classmethod
    def from_config(cls, config: Any) -> AadSettings:
        """Adapt a configuration object (e.g. ``AadConnectorConfig``) by its attribute names."""
        aliases = {
            "graph_base_url": ("graph_base_url", "graph_url", "base_url"),
            "secret_ref": ("secret_ref", "secret"),
        }
        values: dict[str, Any] = {}
        for f in fields(cls):
            for name in aliases.get(f.name, (f.name,)):
                if hasattr(config, name) and getattr(config, name) is not None:
                    value = getattr(config, name)
                    values[f.name] = tuple(value) if isinstance(value, list) else value
                    break
        credential = getattr(config, "credential", None)
        if credential is not None:
            for name in ("kind", "secret_ref", "certificate_path"):
                if getattr(credential, name, None) is not None:
                    values["credential_kind" if name == "kind" else name] = getattr(credential, name)
        return cls(**values)


def resolve_secret(ref: str) -> str:
    """The secret a reference names: ``flows.secrets.resolve_secret`` when present, else ``env:``/``prefect:``."""
    try:
        secrets_module = importlib.import_module("flows.secrets")
    except ModuleNotFoundError:
        secrets_module = None
    if secrets_module is not None and hasattr(secrets_module, "resolve_secret"):
        return str(secrets_module.resolve_secret(ref))
    scheme, _, name = ref.partition(":")
    if scheme == "env":
        value = os.environ.get(name)
        if value is None:
            raise InputError(f"secret reference {ref!r}: environment variable {name} is not set")
        return value
    if scheme == "prefect":
        from prefect.blocks.system import Secret

        block: Any = Secret.load(name)
        return str(block.get())
    raise InputError(f"secret reference {ref!r}: use env:NAME or prefect:BLOCK")


def build_credential(settings: AadSettings) -> Any:
    """An azure-identity credential for the settings. The secret is resolved here and kept nowhere else."""
    from azure.identity import (
        CertificateCredential,
        ClientSecretCredential,
        DefaultAzureCredential,
        ManagedIdentityCredential,
    )

    common: dict[str, Any] = {
        "authority": settings.authority,
        "disable_instance_discovery": settings.disable_instance_discovery,
    }
    if settings.ca_cert_path:
        common["connection_verify"] = settings.ca_cert_path
    if settings.credential_kind == "client_secret":
        if not settings.secret_ref:
            raise InputError(f"connector {settings.name}: a client secret reference (secret_ref) is required")
        return ClientSecretCredential(
            settings.tenant_id, settings.client_id, resolve_secret(settings.secret_ref), **common
        )
    if settings.credential_kind == "certificate":
        if not settings.certificate_path:
            raise InputError(f"connector {settings.name}: certificate_path is required")
        password = resolve_secret(settings.secret_ref).encode() if settings.secret_ref else None
        return CertificateCredential(
            settings.tenant_id, settings.client_id, settings.certificate_path, password=password, **common
        )
    if settings.credential_kind == "managed_identity":
        return ManagedIdentityCredential(client_id=settings.client_id)
    return DefaultAzureCredential(authority=settings.authority)
