"""OU (container) filtering of a directory partition, as a Polars expression over DNs.

Azure AD Connect keeps, per partition, a list of included and excluded containers. An object is in
scope when the nearest listed container above it (or the object itself, for an OU) is an inclusion:
so OUs created later under an included OU are included, an excluded OU removes its subtree, and an
OU included again below an excluded one comes back. No inclusion list means the whole partition.
DNs compare case-insensitively, as AD does.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl


def normalize_dn(dn: str) -> str:
    """Lower-case, without the blanks some people put after the commas of a configured DN."""
    parts = [p.strip() for p in _split_dn(dn)]
    return ",".join(parts).lower()


def _split_dn(dn: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for ch in dn:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            current.append(ch)
            escaped = True
        elif ch == ",":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _under(dn_lower: pl.Expr, container: str) -> pl.Expr:
    return (dn_lower == container) | dn_lower.str.ends_with("," + container)


def in_ou_scope(
    dn: pl.Expr, partition: str, include: Sequence[str] = (), exclude: Sequence[str] = ()
) -> pl.Expr:
    """Boolean expression: is the object at ``dn`` in the partition's container scope?"""
    rules = [(normalize_dn(c), True) for c in (include or [partition])]
    rules += [(normalize_dn(c), False) for c in exclude]
    # Longest (nearest) container last so that it overrides the ones above it.
    rules.sort(key=lambda r: (r[0].count(",") if r[0] else -1, len(r[0])))
    dn_lower = dn.str.to_lowercase()
    decision: pl.Expr = pl.lit(False)
    for container, included in rules:
        decision = pl.when(_under(dn_lower, container)).then(pl.lit(included)).otherwise(decision)
    return decision


def search_bases(partition: str, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> list[str]:
    """The fewest subtree searches that cover the scope: inclusions not below another inclusion."""
    bases = list(include) or [partition]
    normalized = [normalize_dn(b) for b in bases]
    keep: list[str] = []
    for base, norm in zip(bases, normalized, strict=True):
        covered = any(other != norm and norm.endswith("," + other) for other in normalized)
        if not covered and norm not in [normalize_dn(k) for k in keep]:
            keep.append(base)
    return keep
