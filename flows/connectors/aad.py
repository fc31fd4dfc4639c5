"""The Entra ID connector: import through delta queries, export through ``$batch``, over Microsoft Graph.

Works against any Graph endpoint: the real service in production, the emulator in the demo and the
tests. All Graph traffic goes through :class:`flows.connectors.graph_client.GraphClient`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import polars as pl

from flows.connectors.aad_export import ExportRun, ExportStats
from flows.connectors.aad_import import delta_start_path, read_delta_round, round_to_batch
from flows.connectors.aad_settings import AadSettings, build_credential
from flows.connectors.base import ImportBatch, ImportResult
from flows.connectors.graph_client import GraphClient, GraphClientSettings, GraphStats, WriteBudget

if TYPE_CHECKING:
    from flows.config import AadConnectorConfig

log = logging.getLogger("forestsync.aad")
T = TypeVar("T")


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
            for object_type in self.settings.object_types:
                select = self.settings.select[object_type]
                link = None if full else watermarks.get(object_type)
                rnd = await read_delta_round(graph, link or delta_start_path(object_type, select))
                batches.append(round_to_batch(object_type, select, rnd, full=link is None))
                if rnd.delta_link is not None:
                    marks[object_type] = rnd.delta_link
            self.last_graph_stats = graph.stats
        return ImportResult(batches=batches, full=full, watermarks=marks)

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
        self, app_object_id: str, name: str, data_type: str = "String", targets: tuple[str, ...] = ("User",)
    ) -> str:
        """Register ``extension_<appId>_<name>`` on the sync application if missing; return its full name."""
        return _run(self._ensure_extension(app_object_id, name, data_type, targets))

    async def _ensure_extension(
        self, app_object_id: str, name: str, data_type: str, targets: tuple[str, ...]
    ) -> str:
        async with self._graph() as graph:
            existing = await graph.request("GET", f"applications/{app_object_id}/extensionProperties")
            for ext in existing.get("value", []):
                if str(ext.get("name", "")).endswith(f"_{name}"):
                    return str(ext["name"])
            created = await graph.request(
                "POST",
                f"applications/{app_object_id}/extensionProperties",
                body={"name": name, "dataType": data_type, "targetObjects": list(targets)},
            )
            return str(created["name"])
