"""Benchmark: export creates then updates to the Graph emulator through the Entra connector.

The emulator runs in its own process with its write budget scaled up (100x Graph's 3,000 writes per
150 s by default) so that what is measured is the client: how much of the budget it uses, how many HTTP
requests it needs per object, and that it sends no write that changes nothing.

    uv run python bench/graph_export.py [--quick] [--objects N] [--scale 100]

The last line is JSON: objects, writes_per_s, budget_writes_per_s, budget_utilization,
requests_per_object, noop_writes.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flows.connectors.aad import AadConnector  # noqa: E402
from flows.connectors.aad_settings import AadSettings  # noqa: E402
from transforms.schema import PENDING_EXPORT_SCHEMA  # noqa: E402

REAL_WRITES, REAL_WINDOW_S = 3000, 150.0


def start_emulator(writes: int, window_s: float) -> tuple[subprocess.Popen[str], dict[str, str]]:
    cmd = [
        sys.executable,
        "-m",
        "flows.cli_emulator",
        "serve",
        "--port",
        "0",
        "--throttle-writes",
        str(writes),
        "--throttle-window",
        str(window_s),
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("{"):
            return proc, json.loads(line)
    raise RuntimeError("the emulator did not start")


def counters(info: dict[str, str]) -> dict[str, Any]:
    ctx = ssl.create_default_context(cafile=info["ca_cert_path"])
    with httpx.Client(verify=ctx) as client:
        token = client.post(
            f"{info['authority']}/{info['tenant_id']}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": info["client_id"],
                "client_secret": info["client_secret"],
                "scope": "https://graph.microsoft.com/.default",
            },
        ).json()["access_token"]
        resp = client.get(
            f"{info['authority']}/_emulator/stats", headers={"Authorization": f"Bearer {token}"}
        )
        resp.raise_for_status()
        return dict(resp.json())


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def new_rows() -> dict[str, list[Any]]:
    return {k: [] for k in PENDING_EXPORT_SCHEMA}


def add_row(
    rows: dict[str, list[Any]], mv: str, anchor: str | None, op: str, name: str, old: Any, new: Any
) -> None:
    """One PENDING_EXPORT row for a user: values as JSON, old value null on a create."""
    for column, value in (
        ("connector", "aad"),
        ("object_type", "user"),
        ("_mv_id", mv),
        ("_anchor", anchor),
        ("_dn", None),
        ("op", op),
        ("attribute", name),
        ("old_value", None if old is None else json.dumps(old)),
        ("new_value", json.dumps(new)),
    ):
        rows[column].append(value)


def create_plan(n: int) -> pl.DataFrame:
    rows = new_rows()
    for i in range(n):
        for name, value in (
            ("accountEnabled", True),
            ("displayName", f"Bench User {i}"),
            ("mailNickname", f"bench{i}"),
            ("userPrincipalName", f"bench{i}@contoso.com"),
            ("onPremisesImmutableId", f"bench-anchor-{i}"),
            ("department", f"Dept {i % 50}"),
        ):
            add_row(rows, f"mv{i:07d}", None, "add", name, None, value)
    return pl.DataFrame(rows, schema=PENDING_EXPORT_SCHEMA)


def update_plan(anchors: dict[str, str]) -> pl.DataFrame:
    rows = new_rows()
    for mv, anchor in anchors.items():
        i = int(mv[2:])
        add_row(rows, mv, anchor, "update", "displayName", f"Bench User {i}", f"Bench User {i} (renamed)")
        # Unchanged value: the connector must not write it (the emulator counts no-op writes).
        add_row(rows, mv, anchor, "update", "department", f"Dept {i % 50}", f"Dept {i % 50}")
    return pl.DataFrame(rows, schema=PENDING_EXPORT_SCHEMA)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5k creates + 5k updates instead of 50k + 50k")
    parser.add_argument("--objects", type=int, default=None, help="creates (and updates) to export")
    parser.add_argument(
        "--scale", type=float, default=100.0, help="budget multiplier over Graph's real limit"
    )
    parser.add_argument("--concurrency", type=int, default=6, help="$batch requests in flight")
    args = parser.parse_args()
    n = args.objects or (5_000 if args.quick else 50_000)
    # Graph's limit with its window shortened by the scale factor: same writes per window, higher rate.
    writes = REAL_WRITES
    window_s = REAL_WINDOW_S / args.scale
    proc, info = start_emulator(writes, window_s)
    try:
        os.environ["FS_BENCH_AAD_SECRET"] = info["client_secret"]
        settings = AadSettings(
            name="aad",
            tenant_id=info["tenant_id"],
            client_id=info["client_id"],
            graph_base_url=info["base_url"],
            authority=info["authority"],
            disable_instance_discovery=True,
            ca_cert_path=info["ca_cert_path"],
            secret_ref="env:FS_BENCH_AAD_SECRET",
            write_budget=writes,
            write_window_s=window_s,
            max_concurrency=args.concurrency,
            object_types=("user",),
        )
        conn = AadConnector(settings)
        creates = create_plan(n)
        t0 = time.perf_counter()
        c0 = time.process_time()
        created = conn.export(creates)
        t_create = time.perf_counter() - t0
        requests = conn.last_graph_stats.http_requests
        failed = created.filter(pl.col("status") != "success").height
        anchors = dict(zip(created["_mv_id"].to_list(), created["_anchor"].to_list(), strict=True))
        updates = update_plan(anchors)
        t1 = time.perf_counter()
        updated = conn.export(updates)
        t_update = time.perf_counter() - t1
        requests += conn.last_graph_stats.http_requests
        client_cpu_s = time.process_time() - c0
        failed += updated.filter(pl.col("status") != "success").height
        stats = counters(info)
        server_cpu_s = process_cpu_s(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    elapsed = t_create + t_update
    budget = writes / window_s
    writes_per_s = stats["writes"] / elapsed
    print(
        f"creates: {n} in {t_create:.2f}s ({n / t_create:.0f}/s); updates: {n} in {t_update:.2f}s ({n / t_update:.0f}/s)"
    )
    print(f"emulator: {stats}")
    print(
        f"cpu per object: client {client_cpu_s / (2 * n) * 1e6:.0f} us (incl. plan building), "
        f"emulator {server_cpu_s / (2 * n) * 1e6:.0f} us; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(f"failed objects: {failed}")
    print(
        json.dumps(
            {
                "objects": 2 * n,
                "writes_per_s": round(writes_per_s, 1),
                "budget_writes_per_s": round(budget, 1),
                "budget_utilization": round(writes_per_s / budget, 3),
                "requests_per_object": round(requests / (2 * n), 4),
                "noop_writes": stats["noop_updates"],
            }
        )
    )


if __name__ == "__main__":
    main()
