"""forestsync.yaml: validated, every error with file, line, column and key, secrets only by reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.config import AadConnectorConfig, AdConnectorConfig, load_config, parse_config
from flows.errors import ConfigError, SecretError
from flows.secrets import resolve_secret

GOOD = """\
store: state/forest.duckdb
rules: [rules, custom-rules]
parameters: {ReplaceString: "a:b"}
connectors:
  - name: corp
    kind: ad
    host: dc1.corp.example.com
    bind_dn: CN=sync,CN=Users,DC=corp,DC=example,DC=com
    password: env:CORP_AD_PASSWORD
    partitions:
      - dn: DC=corp,DC=example,DC=com
        include_ous: [OU=Staff,DC=corp,DC=example,DC=com]
  - name: aad
    kind: aad
    tenant_id: 00000000-0000-0000-0000-000000000001
    client_id: 00000000-0000-0000-0000-000000000002
    client_secret: prefect-secret:aad-client-secret
export:
  deletion_threshold: 250
"""


def test_example_configuration_in_the_repo_is_valid() -> None:
    """The example configuration shipped in the repository loads."""
    config = load_config(Path(__file__).parents[2] / "forestsync.example.yaml")
    assert config.connectors


def test_valid_configuration_loads_with_defaults() -> None:
    """Connectors of each kind parse; unspecified settings take the product defaults."""
    config = parse_config(GOOD, "forestsync.yaml")
    ad = config.connector("corp")
    assert isinstance(ad, AdConnectorConfig)
    assert ad.tls == "ldaps" and ad.page_size == 1000
    assert isinstance(config.connector("aad"), AadConnectorConfig)
    assert config.export.deletion_threshold == 250
    assert config.schedule.interval_minutes == 30
    assert config.resolve(config.store) == Path("state/forest.duckdb")


def test_every_error_names_file_line_column_and_key() -> None:
    """All problems are reported together, each positioned at the offending key or value."""
    bad = GOOD.replace("password: env:CORP_AD_PASSWORD", "password: hunter2").replace(
        "    client_secret: prefect-secret:aad-client-secret", "    clientsecret: env:X"
    )
    with pytest.raises(ConfigError) as info:
        parse_config(bad, "conf/forestsync.yaml")
    text = str(info.value)
    assert "conf/forestsync.yaml:9:15: connectors.0.password: secrets are references" in text
    assert "conf/forestsync.yaml:17:5: connectors.1.clientsecret: Extra inputs are not permitted" in text
    assert "hunter2" not in text


def test_yaml_syntax_error_is_positioned() -> None:
    """A YAML syntax error names the line and column."""
    with pytest.raises(ConfigError, match=r"f.yaml:3:\d+: \(document\): YAML syntax"):
        parse_config("connectors:\n  - name: x\n   bad: : :\n", "f.yaml")


def test_insecure_ldap_needs_explicit_consent() -> None:
    """tls: none is refused unless allow_insecure is set."""
    text = GOOD.replace("    partitions:", "    tls: none\n    partitions:", 1)
    with pytest.raises(ConfigError, match=r"connectors\.0: tls: none sends the bind password in clear"):
        parse_config(text, "f.yaml")
    ok = parse_config(text.replace("tls: none", "tls: none\n    allow_insecure: true"), "f.yaml")
    assert ok.connector("corp").tls == "none"  # type: ignore[union-attr]


def test_duplicate_connector_names_are_refused() -> None:
    """Connector names are unique."""
    text = GOOD.replace("name: aad", "name: corp")
    with pytest.raises(ConfigError, match="used twice"):
        parse_config(text, "f.yaml")


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nowhere\.yaml: configuration file not found"):
        load_config(tmp_path / "nowhere.yaml")


def test_secret_resolves_from_environment_and_never_renders(monkeypatch: pytest.MonkeyPatch) -> None:
    """A resolved secret shows its reference, not its value, in repr and str."""
    monkeypatch.setenv("FS_TEST_SECRET", "s3cr3t-value")
    secret = resolve_secret("env:FS_TEST_SECRET")
    assert secret.reveal() == "s3cr3t-value"
    assert "s3cr3t" not in repr(secret) and "s3cr3t" not in str(secret) and "s3cr3t" not in f"{secret}"


def test_unresolvable_secret_names_the_reference_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FS_MISSING", raising=False)
    with pytest.raises(SecretError, match="env:FS_MISSING: environment variable FS_MISSING is not set"):
        resolve_secret("env:FS_MISSING")
    with pytest.raises(SecretError) as info:
        resolve_secret("plain-password")
    assert "plain-password" not in str(info.value)
