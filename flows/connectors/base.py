"""The connector protocol.

Every connector describes its object types, imports in batches of frames (full, or delta from a
watermark) and applies an export plan, returning per-object outcomes. Library errors are mapped to the
exception tree at one choke point per connector; secrets never reach logs or errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import polars as pl


@dataclass(frozen=True)
class ImportBatch:
    """Objects of one object type read from a connected directory.

    ``frame`` holds the system columns ``_anchor``, ``_dn``, ``_object_type`` and one column per
    attribute. ``deleted`` lists anchors the directory reported deleted (delta import only).
    ``partial`` marks delta rows that carry only the changed attributes (DirSync), which the store
    merges into the stored image instead of replacing it.
    """

    object_type: str
    frame: pl.DataFrame
    deleted: pl.Series = field(default_factory=lambda: pl.Series("_anchor", [], dtype=pl.String))
    partition: str = ""
    partial: bool = False


@dataclass(frozen=True)
class ImportResult:
    """What an import run read: its batches, whether it was full, and the watermarks it reached.

    The store commits ``watermarks`` in the same transaction as the batches' data, never before.
    """

    batches: list[ImportBatch]
    full: bool
    watermarks: dict[str, str] = field(default_factory=dict)  # partition -> cookie / deltaLink / USN


@runtime_checkable
class Connector(Protocol):
    name: str

    def object_types(self) -> list[str]: ...

    def full_import(self) -> ImportResult: ...

    def delta_import(self, watermarks: dict[str, str]) -> ImportResult: ...

    def export(self, plan: pl.DataFrame) -> pl.DataFrame:
        """Apply pending exports (PENDING_EXPORT_SCHEMA); return outcomes (EXPORT_RESULT_SCHEMA)."""
        ...


def iter_frames(result: ImportResult) -> Iterator[pl.DataFrame]:
    for batch in result.batches:
        yield batch.frame
