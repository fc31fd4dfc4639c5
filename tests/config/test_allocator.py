"""The flows package keeps freed memory in Polars' allocator through a sync (jemalloc page decay)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHOW = "import flows, polars, os; print(os.environ['_RJEM_MALLOC_CONF'])"


def _conf(env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-c", SHOW], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_flows_sets_a_ten_second_decay_before_polars_loads() -> None:
    env = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    # Polars puts its own half-second decay first; jemalloc takes the last value of an option.
    assert _conf(env).endswith("dirty_decay_ms:10000,muzzy_decay_ms:10000")


def test_an_administrators_setting_wins() -> None:
    env = {**os.environ, "_RJEM_MALLOC_CONF": "dirty_decay_ms:0"}
    assert _conf(env).endswith("dirty_decay_ms:0")
