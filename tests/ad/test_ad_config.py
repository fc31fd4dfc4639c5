"""The AD connector is built from the `kind: ad` entry of forestsync.yaml."""

from __future__ import annotations

import pytest

from flows.config import AdConnectorConfig, parse_config
from flows.connectors.ad import DEFAULT_ATTRIBUTES, OBJECT_TYPES, AdConfigError, AdConnector, AdPartition
from flows.connectors.base import Connector
from flows.connectors.factory import build_connector
from flows.errors import SecretError

CONFIG = """\
connectors:
  - name: corp
    kind: ad
    host: 127.0.0.1
    tls: starttls
    ca_file: /etc/forestsync/corp-ca.pem
    tls_server_name: dc1.corp.example.com
    bind_dn: CN=sync,CN=Users,DC=corp,DC=example,DC=com
    password: env:FORESTSYNC_TEST_CONFIG_PW
    attributes: [sAMAccountName, member]
    partitions:
      - dn: DC=corp,DC=example,DC=com
        include_ous: ["OU=Staff,DC=corp,DC=example,DC=com"]
        exclude_ous: ["OU=Old,OU=Staff,DC=corp,DC=example,DC=com"]
    page_size: 500
    writeback_ou: OU=Writeback,DC=corp,DC=example,DC=com
    delta: usn
"""


def test_settings_follow_the_configuration() -> None:
    config = parse_config(CONFIG, "forestsync.yaml")
    entry = config.connector("corp")
    assert isinstance(entry, AdConnectorConfig)
    connector = build_connector(entry, config)
    assert isinstance(connector, AdConnector) and isinstance(connector, Connector)
    assert connector.name == "corp" and "foreignSecurityPrincipal" in connector.object_types()
    s = connector.settings
    assert (s.host, s.tls, s.ca_file, s.tls_server_name) == (
        "127.0.0.1",
        "starttls",
        "/etc/forestsync/corp-ca.pem",
        "dc1.corp.example.com",
    )
    assert s.partitions == (
        AdPartition(
            "DC=corp,DC=example,DC=com",
            ("OU=Staff,DC=corp,DC=example,DC=com",),
            ("OU=Old,OU=Staff,DC=corp,DC=example,DC=com",),
        ),
    )
    assert (s.page_size, s.writeback_ou, s.delta_method) == (
        500,
        "OU=Writeback,DC=corp,DC=example,DC=com",
        "usn",
    )
    assert s.attributes == ("sAMAccountName", "member") and s.object_types == OBJECT_TYPES
    assert connector.attributes == ["objectGUID", "objectClass", "sAMAccountName", "member"]


def test_defaults_are_the_full_inclusion_list_and_dirsync_with_usn_fallback() -> None:
    text = CONFIG.replace("    attributes: [sAMAccountName, member]\n", "").replace(
        "delta: usn", "delta: dirsync"
    )
    entry = parse_config(text, "forestsync.yaml").connector("corp")
    assert isinstance(entry, AdConnectorConfig)
    s = AdConnector.from_config(entry).settings
    assert s.attributes == DEFAULT_ATTRIBUTES and s.delta_method == "auto"


def test_the_password_is_resolved_only_when_binding_and_errors_name_the_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FORESTSYNC_TEST_CONFIG_PW", raising=False)
    entry = parse_config(CONFIG, "forestsync.yaml").connector("corp")
    assert isinstance(entry, AdConnectorConfig)
    connector = AdConnector.from_config(entry)  # no bind yet: nothing resolved
    with pytest.raises(SecretError, match="env:FORESTSYNC_TEST_CONFIG_PW"):
        _ = connector.client


def test_an_unquoted_dn_in_a_yaml_flow_list_is_caught() -> None:
    """`[OU=Staff,DC=corp,...]` is four YAML items; the connector refuses containers outside the partition."""
    text = CONFIG.replace('["OU=Staff,DC=corp,DC=example,DC=com"]', "[OU=Staff,DC=corp,DC=example,DC=com]")
    entry = parse_config(text, "forestsync.yaml").connector("corp")
    assert isinstance(entry, AdConnectorConfig)
    with pytest.raises(AdConfigError, match="must be quoted"):
        AdConnector.from_config(entry)


def test_the_example_configuration_builds_an_ad_connector() -> None:
    from pathlib import Path

    from flows.config import load_config

    config = load_config(Path(__file__).parents[2] / "forestsync.example.yaml")
    entry = config.connector("corp")
    assert isinstance(entry, AdConnectorConfig)
    (partition,) = AdConnector.from_config(entry).settings.partitions
    assert partition.exclude == ("OU=Disabled Accounts,DC=corp,DC=example,DC=com",)
