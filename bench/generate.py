"""Benchmark: generate a forest of N users to LDIF, then import it with the LDIF connector.

    python bench/generate.py [--quick] [--users N] [--keep DIR]

Prints the figures, then one JSON line: {"users", "generate_s", "import_s", "peak_rss_mb", ...}.
``generate_s`` covers building the frames and writing the LDIF file; ``import_s`` covers parsing the
file into connector-space frames and staging them against an empty connector space.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import polars as pl

from emulator.forest import generate_forest
from emulator.ldif import write_ldif
from flows.connectors.ldif import LdifConnector
from transforms.sync.staging import stage_full_import


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="20k users instead of 1M")
    parser.add_argument("--users", type=int, default=None)
    parser.add_argument("--domains", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, default=None, help="write the LDIF here instead of a temp dir")
    args = parser.parse_args(argv)
    users = args.users if args.users is not None else (20_000 if args.quick else 1_000_000)
    groups = max(users // 20, 1)

    with tempfile.TemporaryDirectory(prefix="forestsync-bench-") as tmp:
        path = (args.keep or Path(tmp)) / "forest.ldif"
        path.parent.mkdir(parents=True, exist_ok=True)
        c0, t0 = time.process_time(), time.perf_counter()
        forest = generate_forest(users, groups, args.domains, args.seed)
        t1 = time.perf_counter()
        entries = write_ldif(forest, path)
        c2, t2 = time.process_time(), time.perf_counter()
        size_mb = path.stat().st_size / 1e6
        del forest
        gc.collect()
        print(
            f"generate: {users} users, {entries} entries in {t1 - t0:.2f}s; LDIF {size_mb:.0f} MB in {t2 - t1:.2f}s",
            flush=True,
        )

        c3, t3 = time.process_time(), time.perf_counter()
        result = LdifConnector("bench", path).full_import()
        t4 = time.perf_counter()
        counters: dict[str, int] = {}
        for batch in result.batches:
            staged = stage_full_import(None, batch.frame)
            for k, v in staged.counters.items():
                counters[k] = counters.get(k, 0) + v
        c5, t5 = time.process_time(), time.perf_counter()
        imported = sum(b.frame.height for b in result.batches)
        print(
            f"import: parsed {imported} objects in {t4 - t3:.2f}s, staged in {t5 - t4:.2f}s; {counters}",
            flush=True,
        )

    figures = {
        "users": users,
        "generate_s": round(t2 - t0, 2),
        "import_s": round(t5 - t3, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "entries": entries,
        "ldif_mb": round(size_mb, 1),
        "build_s": round(t1 - t0, 2),
        "write_s": round(t2 - t1, 2),
        "parse_s": round(t4 - t3, 2),
        "stage_s": round(t5 - t4, 2),
        "stage_add": counters.get("stage-add", 0),
        # CPU seconds (all threads) and the 1-minute load average: wall times on a shared machine vary.
        "generate_cpu_s": round(c2 - c0, 2),
        "import_cpu_s": round(c5 - c3, 2),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "polars": pl.__version__,
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
