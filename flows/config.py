"""``forestsync.yaml``: connectors, store, rules folders, parameters, export safety.

Validated with pydantic; every problem is reported at once with file, line, column and key, mapped
back from pydantic's key paths through :mod:`transforms.yaml_source`. Secrets are references only
(``env:NAME`` / ``prefect-secret:NAME``); an inline secret is a configuration error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from flows.errors import ConfigError
from flows.secrets import is_reference
from transforms.yaml_source import SourceIssue, YamlSourceError, load_yaml

DEFAULT_CONFIG = "forestsync.yaml"
DEFAULT_STORE = ".forestsync/state.duckdb"

AD_OBJECT_TYPES = (
    "user",
    "inetOrgPerson",
    "contact",
    "group",
    "computer",
    "foreignSecurityPrincipal",
    "organizationalUnit",
)
AAD_OBJECT_TYPES = ("user", "group", "contact", "device")
# Rule-set options with the product's default, filled in (flows.rulesets) when a configuration leaves
# them out. user_matching is not among them: a configuration that lists rule_options names it (rules/README.md).
RULE_OPTION_DEFAULTS = {"source_anchor": "mS-DS-ConsistencyGuid"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _secret_reference(value: str | None) -> str | None:
    if value is not None and not is_reference(value):
        raise ValueError("secrets are references, never inline values: write env:NAME or prefect-secret:NAME")
    return value


class Partition(_Model):
    """One naming context (AD domain) and its OU filter."""

    dn: str
    include_ous: list[str] = Field(default_factory=list)  # empty = the whole naming context
    exclude_ous: list[str] = Field(default_factory=list)
    netbios: str | None = None
    fqdn: str | None = None


class ConnectorBase(_Model):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    object_types: list[str] | None = None
    attributes: list[str] | None = None  # attribute inclusion list; None = the connector's default list
    parameters: dict[str, str] = Field(default_factory=dict)  # extra %Parameter% values for rules


class LdifConnectorConfig(ConnectorBase):
    kind: Literal["ldif"]
    path: Path
    forest: str | None = None  # forest FQDN, for %Forest.*% parameters


class AdConnectorConfig(ConnectorBase):
    kind: Literal["ad"]
    host: str
    port: int | None = None  # default: 636 for ldaps, 389 otherwise
    tls: Literal["ldaps", "starttls", "none"] = "ldaps"
    ca_file: Path | None = None
    tls_server_name: str | None = None  # a name the DC's certificate carries, when host is an address
    allow_insecure: bool = False
    bind_dn: str
    password: str
    forest: str | None = None
    partitions: list[Partition] = Field(min_length=1)
    page_size: Annotated[int, Field(ge=1, le=100_000)] = 1000
    writeback_ou: str | None = None
    delta: Literal["dirsync", "usn"] = "dirsync"

    _check_password = field_validator("password")(_secret_reference)

    @model_validator(mode="after")
    def _tls_policy(self) -> AdConnectorConfig:
        if self.tls == "none" and not self.allow_insecure:
            raise ValueError(
                "tls: none sends the bind password in clear; set allow_insecure: true to accept that"
            )
        return self


class AadConnectorConfig(ConnectorBase):
    kind: Literal["aad"]
    tenant_id: str
    client_id: str
    credential: Literal["client_secret", "certificate", "managed_identity", "default"] = "client_secret"
    client_secret: str | None = None
    certificate_path: Path | None = None
    certificate_password: str | None = None
    authority: str = "https://login.microsoftonline.com"
    graph_url: str = "https://graph.microsoft.com/v1.0"
    ca_file: Path | None = None  # extra CA for a private endpoint (the emulator)
    extension_app_id: str | None = None  # tenant schema extension app (extension_<appId>_<name>)
    # Optional full names of single extensions, {short: extension_<32 hex>_<short>}, overriding the app's.
    extension_names: dict[str, str] | None = None
    block_soft_match: bool = False
    block_cloud_object_takeover_through_hard_match: bool = False
    soft_match_on_upn: bool = True
    # The tenant's write budget per app (Graph identity limits: 3,000 writes per 150 s); the connector
    # paces itself to it. Only a private endpoint with another budget (the emulator) needs a change.
    write_budget: Annotated[int, Field(ge=1)] = 3000
    write_window_s: Annotated[float, Field(gt=0)] = 150.0

    _check_client_secret = field_validator("client_secret")(_secret_reference)
    _check_certificate_password = field_validator("certificate_password")(_secret_reference)

    @model_validator(mode="after")
    def _credential_needs(self) -> AadConnectorConfig:
        if self.credential == "client_secret" and self.client_secret is None:
            raise ValueError("credential client_secret needs client_secret: env:NAME or prefect-secret:NAME")
        if self.credential == "certificate" and self.certificate_path is None:
            raise ValueError("credential certificate needs certificate_path")
        return self


ConnectorConfig = Annotated[
    LdifConnectorConfig | AdConnectorConfig | AadConnectorConfig, Field(discriminator="kind")
]


class ExportConfig(_Model):
    deletion_threshold: Annotated[int, Field(ge=0)] | None = 500  # None disables the check
    staging: bool = False


class ScheduleConfig(_Model):
    interval_minutes: Annotated[float, Field(gt=0)] = 30
    purge_run_history_days: Annotated[int, Field(ge=1)] = 7


class Config(_Model):
    store: Path = Path(DEFAULT_STORE)
    rules: list[Path] = Field(default_factory=lambda: [Path("rules")])
    # The install wizard's choices that select rule variants (rules with a `when:` condition).
    rule_options: dict[str, str] = Field(default_factory=lambda: {"user_matching": "objects-once"})
    parameters: dict[str, str] = Field(default_factory=dict)
    connectors: list[ConnectorConfig] = Field(default_factory=list)
    export: ExportConfig = ExportConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    source: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        seen: set[str] = set()
        for connector in self.connectors:
            if connector.name in seen:
                raise ValueError(f"connector name {connector.name!r} is used twice")
            seen.add(connector.name)
        return self

    def connector(self, name: str) -> LdifConnectorConfig | AdConnectorConfig | AadConnectorConfig:
        for connector in self.connectors:
            if connector.name == name:
                return connector
        raise ConfigError(f"no connector named {name!r} in {self.source or 'the configuration'}")

    def resolve(self, path: Path) -> Path:
        """A path from the file, relative to the file's folder."""
        if path.is_absolute() or self.source is None:
            return path
        return self.source.parent / path


def with_option_defaults(options: Mapping[str, str] | None) -> dict[str, str]:
    """``options`` with the product's default for every defaulted option it leaves out."""
    return {**RULE_OPTION_DEFAULTS, **(options or {})}


def parse_config(text: str, filename: str) -> Config:
    """Validate configuration text; raise :class:`ConfigError` listing every problem with its position."""
    try:
        source = load_yaml(text, filename)
    except YamlSourceError as exc:
        raise ConfigError(str(exc)) from None
    data: Any = source.data if source.data is not None else {}
    if not isinstance(data, dict):
        issue = source.issue((), "the configuration must be a mapping of keys")
        raise ConfigError(str(YamlSourceError(filename, [issue])))
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        issues: list[SourceIssue] = []
        for error in exc.errors():
            path = _yaml_path(error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            at_key = error["type"] in {"extra_forbidden", "missing"}
            issues.append(source.issue(path, message, at_key=at_key))
        issues.sort(key=lambda i: (i.position.line, i.position.column))
        raise ConfigError(str(YamlSourceError(filename, issues))) from None
    return config.model_copy(update={"source": Path(filename)})


def _yaml_path(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    # pydantic puts the discriminator tag into the path (connectors, 0, "ad", password); YAML has no such key.
    return tuple(
        part
        for i, part in enumerate(loc)
        if not (i >= 2 and loc[i - 2] == "connectors" and isinstance(loc[i - 1], int) and part in _KINDS)
    )


_KINDS = frozenset({"ldif", "ad", "aad"})


def load_config(path: Path | str | None = None) -> Config:
    """Load ``forestsync.yaml`` (or ``$FORESTSYNC_CONFIG``); a missing file is an error naming it."""
    chosen = Path(path or os.environ.get("FORESTSYNC_CONFIG") or DEFAULT_CONFIG)
    try:
        text = chosen.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{chosen}: configuration file not found") from None
    return parse_config(text, str(chosen))
