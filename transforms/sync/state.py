"""The sync state and result: plain frames with the schemas of :mod:`transforms.sync.schema`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl

from transforms.schema import PENDING_EXPORT_SCHEMA
from transforms.sync.frames import contiguous
from transforms.sync.metaverse import provenance_frame
from transforms.sync.schema import (
    COUNTERS_SCHEMA,
    EXPORT_MEMORY_SCHEMA,
    LINKS_SCHEMA,
    REFERENCE_INDEX_SCHEMA,
    STAGED_DELETES_SCHEMA,
    SYNC_ERRORS_SCHEMA,
    empty,
)

ConnectorSpaces = Mapping[str, Mapping[str, pl.DataFrame]]


@dataclass(frozen=True)
class SyncState:
    """Everything the sync reads and writes.

    ``connector_spaces``: connector -> connector-space object type -> wide frame (imported image).
    ``metaverse``: metaverse object type -> wide frame keyed by ``_mv_id``; beside each attribute
    ``a`` it holds ``_by.a``, the provenance of the value (``connector<US>rule`` label, Categorical;
    a list of labels for merged attributes). ``provenance`` unfolds those into the long frame
    (PROVENANCE_SCHEMA). ``links`` (LINKS_SCHEMA), ``export_memory`` (EXPORT_MEMORY_SCHEMA),
    ``reference_index`` (REFERENCE_INDEX_SCHEMA), ``staged_deletes`` (STAGED_DELETES_SCHEMA: deprovisioned
    connector-space objects awaiting the import that confirms their deletion), ``disconnectors``
    (DISCONNECTORS_SCHEMA: the connector-space objects the last sync left unjoined; ``None`` when not
    known, and a delta sync then finds them by an anti-join of the connector spaces with the links).

    Provenance lives in the metaverse rows, not in a separate long table, because a delta sync
    replaces whole metaverse rows anyway: a long table (one row per value, tens of millions at a
    million users) would cost a full anti-join on every delta.
    """

    connector_spaces: ConnectorSpaces = field(default_factory=dict)
    metaverse: Mapping[str, pl.DataFrame] = field(default_factory=dict)
    links: pl.DataFrame = field(default_factory=lambda: empty(LINKS_SCHEMA))
    export_memory: pl.DataFrame = field(default_factory=lambda: empty(EXPORT_MEMORY_SCHEMA))
    reference_index: pl.DataFrame = field(default_factory=lambda: empty(REFERENCE_INDEX_SCHEMA))
    staged_deletes: pl.DataFrame = field(default_factory=lambda: empty(STAGED_DELETES_SCHEMA))
    disconnectors: pl.DataFrame | None = None

    @property
    def provenance(self) -> pl.DataFrame:
        """One row per metaverse value and contributing rule: ``_mv_id, attribute, connector, rule``."""
        return provenance_frame(self.metaverse)

    def contiguous(self) -> SyncState:
        """The same state with every frame in one chunk per column, as the store loads it (see
        :func:`transforms.sync.frames.contiguous`)."""
        return SyncState(
            connector_spaces={
                c: {t: contiguous(f) for t, f in ts.items()} for c, ts in self.connector_spaces.items()
            },
            metaverse={t: contiguous(f) for t, f in self.metaverse.items()},
            links=contiguous(self.links),
            export_memory=contiguous(self.export_memory),
            reference_index=contiguous(self.reference_index),
            staged_deletes=contiguous(self.staged_deletes),
            disconnectors=None if self.disconnectors is None else contiguous(self.disconnectors),
        )


@dataclass(frozen=True)
class SyncResult:
    """The new state, the pending exports (PENDING_EXPORT_SCHEMA), errors and run-history counters."""

    state: SyncState
    pending_exports: pl.DataFrame = field(default_factory=lambda: empty(PENDING_EXPORT_SCHEMA))
    errors: pl.DataFrame = field(default_factory=lambda: empty(SYNC_ERRORS_SCHEMA))
    counters: pl.DataFrame = field(default_factory=lambda: empty(COUNTERS_SCHEMA))

    def counter(self, connector: str, step: str, name: str) -> int:
        rows = self.counters.filter(
            (pl.col("connector") == connector) & (pl.col("step") == step) & (pl.col("counter") == name)
        )
        return int(rows["value"].sum()) if rows.height else 0
