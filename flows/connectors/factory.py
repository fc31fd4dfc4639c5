"""One place that turns a connector's configuration into a connector object."""

from __future__ import annotations

from flows.config import AadConnectorConfig, AdConnectorConfig, Config, LdifConnectorConfig
from flows.connectors.base import Connector


def build_connector(
    connector: LdifConnectorConfig | AdConnectorConfig | AadConnectorConfig, config: Config
) -> Connector:
    if isinstance(connector, LdifConnectorConfig):
        from flows.connectors.ldif import LdifConnector

        return LdifConnector(connector.name, config.resolve(connector.path))
    if isinstance(connector, AdConnectorConfig):
        from flows.connectors.ad import AdConnector

        return AdConnector.from_config(connector)  # type: ignore[attr-defined,no-any-return]
    from flows.connectors.aad import AadConnector

    return AadConnector.from_config(connector)  # type: ignore[attr-defined,no-any-return]
