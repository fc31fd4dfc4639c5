"""The rule set of a configuration: every rule file of its rule folders, and a hash of their content.

A change to any rule file changes :func:`rule_set_hash`; the cycle compares it with the hash of the
last sync and runs a full sync when it differs (the product's "rule change requires a full sync").
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path

from flows.config import with_option_defaults
from transforms.rules import SyncRule, default_expression_checker, load_rule_texts


def read_rule_files(folder: Path) -> list[tuple[str, str]]:
    """``(path, text)`` of every ``*.yaml``/``*.yml`` under ``folder``, sorted by path."""
    files = sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    return [(str(p), p.read_text(encoding="utf-8")) for p in files]


def read_folders(folders: Iterable[Path]) -> list[tuple[str, str]]:
    files: list[tuple[str, str]] = []
    for folder in folders:
        files.extend(read_rule_files(folder))
    return files


def load_rule_set(folders: Iterable[Path], options: Mapping[str, str] | None = None) -> tuple[SyncRule, ...]:
    """Load every rule of the folders as one set; raises one error listing every problem."""
    return load_rule_files(read_folders(folders), options)


def load_rule_files(
    files: list[tuple[str, str]], options: Mapping[str, str] | None = None
) -> tuple[SyncRule, ...]:
    """Load ``(path, text)`` rule files as one set (:func:`load_rule_set` for files already read).

    Options with a product default (``source_anchor``) get it when ``options`` leaves them out.
    """
    return load_rule_texts(
        files, check_expression=default_expression_checker(), options=with_option_defaults(options)
    )


def rule_set_hash(folders: Iterable[Path], options: Mapping[str, str] | None = None) -> str:
    digest = hashlib.sha256()
    for name, text in read_folders(folders):
        digest.update(name.encode() + b"\0" + text.encode() + b"\0")
    for key, value in sorted(with_option_defaults(options).items()):
        digest.update(f"{key}={value}\0".encode())
    return digest.hexdigest()
