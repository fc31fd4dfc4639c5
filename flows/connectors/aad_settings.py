"""Settings of the Entra ID connector and how its credential is built.

:meth:`AadSettings.from_config` reads the ``aad`` connector of ``forestsync.yaml``
(:class:`flows.config.AadConnectorConfig`); tests and the benchmark build settings directly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flows.errors import ConfigError
from flows.secrets import resolve_secret

if TYPE_CHECKING:
    from flows.config import AadConnectorConfig

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
        "manager",
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
# Instance discovery stays on for Microsoft's authorities; a private one (the emulator) turns it off.
PUBLIC_AUTHORITY_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoftonline.us",
        "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
    }
)
# Groups have no onPremisesImmutableId in Graph v1.0: their source anchor travels in this extension
# property of the tenant's schema-extension app (``extension_app_id`` in the configuration).
GROUP_ANCHOR_EXTENSION = "forestsyncSourceAnchor"


@dataclass(frozen=True)
class ExtensionDef:
    """How a directory extension property of the schema app is registered (``extensionProperties``)."""

    data_type: str = "String"
    multi_valued: bool = False
    targets: tuple[str, ...] = ("User", "Group", "Device")


# The directory extensions the default outbound rules write (``extension_<name>`` in the rules). A name
# the rules use that is missing here is registered as a single-valued String on users, groups, devices.
# Target objects cannot change once registered, so every definition covers all three writable types.
EXTENSION_DEFS: dict[str, ExtensionDef] = {
    "onPremisesSamAccountName": ExtensionDef(),
    "onPremisesSecurityIdentifier": ExtensionDef(),
    "onPremisesDistinguishedName": ExtensionDef(),
    "onPremisesDomainName": ExtensionDef(),
    "onPremisesUserPrincipalName": ExtensionDef(),
    "proxyAddresses": ExtensionDef(multi_valued=True),
    "mail": ExtensionDef(),
    GROUP_ANCHOR_EXTENSION: ExtensionDef(),
}
FULL_EXTENSION_NAME = re.compile(r"^extension_[0-9a-fA-F]{32}_(.+)$")
EXTENSION_PREFIX = "extension_"
ON_PREM_EXTENSION_ATTRIBUTES = "onPremisesExtensionAttributes"
ON_PREM_EXTENSION_KEYS = tuple(f"extensionAttribute{i}" for i in range(1, 16))


def extension_short_name(attribute: str) -> str | None:
    """``name`` for a rule destination ``extension_<name>`` (not already ``extension_<32 hex>_<name>``)."""
    if not attribute.startswith(EXTENSION_PREFIX) or FULL_EXTENSION_NAME.match(attribute):
        return None
    return attribute[len(EXTENSION_PREFIX) :] or None


@dataclass(frozen=True)
class AadSettings:
    """Everything the Entra ID connector needs; secrets are references (``env:NAME``, ``prefect-secret:NAME``)."""

    name: str
    tenant_id: str
    client_id: str
    graph_base_url: str = "https://graph.microsoft.com/v1.0"
    authority: str = "https://login.microsoftonline.com"
    disable_instance_discovery: bool = False  # True for a private authority such as the emulator
    ca_cert_path: str | None = None  # trust this CA for Graph and the authority (the emulator's)
    credential_kind: str = "client_secret"
    secret_ref: str | None = None  # env:NAME / prefect-secret:NAME: client secret, or certificate password
    certificate_path: str | None = None  # PEM with private key, for "certificate"
    scopes: tuple[str, ...] = ("https://graph.microsoft.com/.default",)
    object_types: tuple[str, ...] = ("user", "group", "contact", "device")
    select: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_SELECT))
    # The attribute that carries the source anchor per object type; a conflict on it is a hard match.
    # Groups have no onPremisesImmutableId in Graph v1.0: give them a registered extension property.
    anchor_attributes: dict[str, str] = field(
        default_factory=lambda: {"user": "onPremisesImmutableId", "device": "deviceId"}
    )
    # The tenant schema app whose directory extensions carry ``extension_<name>`` destinations: its
    # appId (client id). ``extension_names`` overrides the full name of single extensions
    # (``{short name: extension_<appId>_<name>}``), e.g. properties registered on another app.
    extension_app_id: str | None = None
    extension_names: dict[str, str] = field(default_factory=dict)
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
            raise ConfigError(
                f"credential kind {self.credential_kind!r} is not one of {', '.join(CREDENTIAL_KINDS)}"
            )
        unknown = set(self.object_types) - set(DEFAULT_SELECT)
        if unknown:
            raise ConfigError(f"unknown Entra object types: {sorted(unknown)}")

    def extension_full_name(self, short: str) -> str | None:
        """``extension_<appId>_<short>`` of the schema app (or the configured override); None without one."""
        if short in self.extension_names:
            return self.extension_names[short]
        if not self.extension_app_id:
            return None
        return f"extension_{self.extension_app_id.replace('-', '')}_{short}"

    def anchor_attribute(self, object_type: str) -> str | None:
        """The property that carries the source anchor; groups use the anchor extension of the schema app."""
        configured = self.anchor_attributes.get(object_type)
        if configured is not None:
            return configured
        if object_type == "group":
            return self.extension_full_name(GROUP_ANCHOR_EXTENSION)
        return None

    def __repr__(self) -> str:  # secrets are references, but keep even those out of logs
        shown = ", ".join(
            f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.name != "secret_ref"
        )
        return f"AadSettings({shown})"

    @classmethod
    def from_config(cls, config: AadConnectorConfig) -> AadSettings:
        """Settings from the ``aad`` connector of ``forestsync.yaml``."""
        authority_host = urlsplit(config.authority).hostname or ""
        select = dict(DEFAULT_SELECT)
        if config.attributes is not None:
            # One inclusion list for every object type; groups keep their members, users their manager.
            # A navigation property goes only to the type that has it: Graph answers 400 to `$select`
            # naming `manager` on a group or `members` on a user.
            keep = {"group": ("members",), "user": ("manager",)}
            navigation = {a for names in keep.values() for a in names}
            select = {
                t: tuple(a for a in config.attributes if a not in navigation) + keep.get(t, ())
                for t in DEFAULT_SELECT
            }
        anchors = {"user": "onPremisesImmutableId", "device": "deviceId"}
        extension_names = dict(config.extension_names or {})
        if config.extension_app_id or GROUP_ANCHOR_EXTENSION in extension_names:
            anchors["group"] = extension_names.get(
                GROUP_ANCHOR_EXTENSION,
                f"extension_{(config.extension_app_id or '').replace('-', '')}_{GROUP_ANCHOR_EXTENSION}",
            )
        return cls(
            name=config.name,
            tenant_id=config.tenant_id,
            client_id=config.client_id,
            graph_base_url=config.graph_url,
            authority=config.authority,
            disable_instance_discovery=authority_host not in PUBLIC_AUTHORITY_HOSTS,
            ca_cert_path=str(config.ca_file) if config.ca_file is not None else None,
            credential_kind=config.credential,
            secret_ref=config.client_secret
            if config.credential == "client_secret"
            else config.certificate_password,
            certificate_path=str(config.certificate_path) if config.certificate_path is not None else None,
            object_types=tuple(config.object_types or DEFAULT_SELECT),
            select=select,
            anchor_attributes=anchors,
            extension_app_id=config.extension_app_id,
            extension_names=extension_names,
            block_soft_match=config.block_soft_match,
            block_cloud_object_takeover_through_hard_match=config.block_cloud_object_takeover_through_hard_match,
            soft_match_on_upn=config.soft_match_on_upn,
            write_budget=config.write_budget,
            write_window_s=config.write_window_s,
        )


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
            raise ConfigError(
                f"connector {settings.name}: a client secret reference (secret_ref) is required"
            )
        secret = resolve_secret(settings.secret_ref)
        return ClientSecretCredential(settings.tenant_id, settings.client_id, secret.reveal(), **common)
    if settings.credential_kind == "certificate":
        if not settings.certificate_path:
            raise ConfigError(f"connector {settings.name}: certificate_path is required")
        password = resolve_secret(settings.secret_ref).reveal().encode() if settings.secret_ref else None
        return CertificateCredential(
            settings.tenant_id, settings.client_id, settings.certificate_path, password=password, **common
        )
    if settings.credential_kind == "managed_identity":
        return ManagedIdentityCredential(client_id=settings.client_id)
    return DefaultAzureCredential(authority=settings.authority)
