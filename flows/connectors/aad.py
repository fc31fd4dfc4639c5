"""The Entra ID connector: import through delta queries, export through ``$batch``, over Microsoft Graph.

Works against any Graph endpoint: the real service in production, the emulator in the demo and the
tests. All Graph traffic goes through :class:`flows.connectors.graph_client.GraphClient`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import polars as pl

from flows.connectors.aad_export import ExportRun, ExportStats
from flows.connectors.aad_import import delta_start_path, read_delta_round, round_to_batch
from flows.connectors.aad_settings import (
    EXTENSION_DEFS,
    EXTENSION_PREFIX,
    FULL_EXTENSION_NAME,
    ON_PREM_EXTENSION_ATTRIBUTES,
    AadSettings,
    ExtensionDef,
    build_credential,
)
from flows.connectors.base import ImportBatch, ImportResult
from flows.connectors.graph_client import GraphClient, GraphClientSettings, GraphStats, WriteBudget

if TYPE_CHECKING:
    from flows.config import AadConnectorConfig

log = logging.getLogger("forestsync.aad")
T = TypeVar("T")
EXTENSION_TARGETS = {"user": "User", "group": "Group", "device": "Device", "contact": "Contact"}


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    raise RuntimeError("AadConnector's methods are synchronous; call them outside a running event loop")


class AadConnector:
    """Connector protocol implementation for Entra ID (object types: user, group, contact, device)."""

    kind = "aad"

    def __init__(self, settings: AadSettings, credential: Any | None = None) -> None:
        self.name = settings.name
        self.settings = settings
        self._credential = credential if credential is not None else build_credential(settings)
        self.last_graph_stats = GraphStats()
        share = GraphClientSettings.budget_share
        self._budget = WriteBudget(max(1, int(settings.write_budget * share)), settings.write_window_s)
        self.last_export_stats = ExportStats()

    @classmethod
    def from_config(cls, config: AadConnectorConfig) -> AadConnector:
        return cls(AadSettings.from_config(config))

    def __repr__(self) -> str:
        return f"AadConnector(name={self.name!r}, graph={self.settings.graph_base_url!r})"

    def _graph(self) -> GraphClient:
        s = self.settings
        return GraphClient(
            self._credential,
            GraphClientSettings(
                base_url=s.graph_base_url,
                scopes=s.scopes,
                verify=s.ca_cert_path or True,
                timeout_s=s.timeout_s,
                max_attempts=s.max_attempts,
                max_concurrency=s.max_concurrency,
                write_budget=s.write_budget,
                write_window_s=s.write_window_s,
            ),
            self._budget,
        )

    def object_types(self) -> list[str]:
        return list(self.settings.object_types)

    # ---- import ----------------------------------------------------------------------------------

    def full_import(self) -> ImportResult:
        return _run(self._import({}, full=True))

    def delta_import(self, watermarks: dict[str, str]) -> ImportResult:
        """Resume each object type from its deltaLink; a type without one gets a fresh (full) round."""
        return _run(self._import(watermarks, full=False))

    async def _import(self, watermarks: dict[str, str], *, full: bool) -> ImportResult:
        batches: list[ImportBatch] = []
        marks: dict[str, str] = {}
        async with self._graph() as graph:
            registered = await self._registered_extensions(graph)
            for object_type in self.settings.object_types:
                select, extensions = self._import_select(object_type, registered)
                link = None if full else watermarks.get(object_type)
                rnd = await read_delta_round(graph, link or delta_start_path(object_type, select))
                batches.append(
                    round_to_batch(object_type, select, rnd, full=link is None, extensions=extensions)
                )
                if rnd.delta_link is not None:
                    marks[object_type] = rnd.delta_link
            self.last_graph_stats = graph.stats
        return ImportResult(batches=batches, full=full, watermarks=marks)

    async def _registered_extensions(self, graph: GraphClient) -> list[dict[str, Any]]:
        """The directory extensions of the schema app (none without ``extension_app_id``)."""
        app_id = self.settings.extension_app_id
        if not app_id:
            return []
        flt = quote(f"appId eq '{app_id.replace(chr(39), chr(39) * 2)}'", safe="")
        found = await graph.request("GET", f"applications?$filter={flt}&$select=id,appId")
        apps = found.get("value", []) if isinstance(found, dict) else []
        if not apps:
            log.warning("schema app %s not found: directory extensions are not imported", app_id)
            return []
        listed = await graph.request("GET", f"applications/{apps[0]['id']}/extensionProperties")
        return list(listed.get("value", [])) if isinstance(listed, dict) else []

    def _import_select(
        self, object_type: str, registered: list[dict[str, Any]]
    ) -> tuple[tuple[str, ...], dict[str, tuple[str, bool]]]:
        """The ``$select`` of one object type, and its extensions' full names -> (rule column, multi-valued).

        Every extension of the schema app that targets the type comes back as ``extension_<name>``, the
        name the rules use; users also get ``onPremisesExtensionAttributes`` (unfolded into columns).
        """
        select = list(self.settings.select[object_type])
        if object_type == "user" and ON_PREM_EXTENSION_ATTRIBUTES not in select:
            select.append(ON_PREM_EXTENSION_ATTRIBUTES)
        target = EXTENSION_TARGETS.get(object_type)
        extensions: dict[str, tuple[str, bool]] = {}
        for ext in registered:
            name = str(ext.get("name", ""))
            match = FULL_EXTENSION_NAME.match(name)
            if match is None or target not in (ext.get("targetObjects") or []):
                continue
            if self.settings.extension_full_name(match.group(1)) != name:
                continue  # another app's property with the same short name is configured
            extensions[name] = (EXTENSION_PREFIX + match.group(1), bool(ext.get("isMultiValued")))
        for short, full in self.settings.extension_names.items():
            multi = EXTENSION_DEFS.get(short, ExtensionDef()).multi_valued
            extensions.setdefault(full, (EXTENSION_PREFIX + short, multi))
        select.extend(n for n in extensions if n not in select)
        return tuple(select), extensions

    # ---- export ----------------------------------------------------------------------------------

    def export(self, plan: pl.DataFrame) -> pl.DataFrame:
        """Apply pending exports (PENDING_EXPORT_SCHEMA); one outcome row per object (EXPORT_RESULT_SCHEMA)."""
        return _run(self._export(plan))

    async def _export(self, plan: pl.DataFrame) -> pl.DataFrame:
        async with self._graph() as graph:
            run = ExportRun(graph, self.settings)
            result = await run.run(plan, self.name)
            self.last_graph_stats = graph.stats
            self.last_export_stats = run.stats
        return result

    # ---- setup -----------------------------------------------------------------------------------

    def ensure_extension_property(
        self,
        app_object_id: str,
        name: str,
        data_type: str = "String",
        targets: tuple[str, ...] = ("User",),
        *,
        multi_valued: bool = False,
    ) -> str:
        """Register ``extension_<appId>_<name>`` on the sync application if missing; return its full name.

        An export registers the extensions its plan uses by itself (``extension_app_id``); this is for setup.
        """
        return _run(self._ensure_extension(app_object_id, name, data_type, targets, multi_valued))

    async def _ensure_extension(
        self, app_object_id: str, name: str, data_type: str, targets: tuple[str, ...], multi_valued: bool
    ) -> str:
        async with self._graph() as graph:
            existing = await graph.request("GET", f"applications/{app_object_id}/extensionProperties")
            for ext in existing.get("value", []):
                if str(ext.get("name", "")).endswith(f"_{name}"):
                    return str(ext["name"])
            created = await graph.request(
                "POST",
                f"applications/{app_object_id}/extensionProperties",
                body={
                    "name": name,
                    "dataType": data_type,
                    "targetObjects": list(targets),
                    "isMultiValued": multi_valued,
                },
            )
            return str(created["name"])
