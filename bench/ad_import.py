"""Benchmark: the AD connector's full import against a raw ldap3 paged search, then a DirSync delta.

Seeds the Samba DC (starting one if none runs; a seeded OU of the same size is reused), then in one run
measures the engine's full import of the domain (one partition, no OU filter: the common deployment)
and a raw ldap3 paged search of the same attributes over the same base and filter (best of a few
rounds, alternating which goes first, both on an already bound connection), then a DirSync delta after
1% of the objects changed. The engine's time includes what a raw search does not do: the DirSync pass
that takes the watermark before reading (a server-side scan of the naming context), decoding into
typed frames, OU scope and per-type batches. The last line printed is JSON:

    {"objects": ..., "engine_objects_per_s": ..., "raw_ldap3_objects_per_s": ...,
     "ratio": ..., "delta_objects_per_s": ...}

Target: ratio >= 0.8 (the engine adds at most 20% to reading the directory).

    .venv/bin/python bench/ad_import.py [--quick] [--users N] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import ldap3
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emulator.samba_dc import ensure_samba_dc, stop_samba_dc
from emulator.samba_loader import load_frames
from flows.connectors.ad import DEFAULT_ATTRIBUTES, AdConnector, AdPartition, AdSettings
from flows.connectors.ldap_client import LdapClient

USER = ["top", "person", "organizationalPerson", "user"]


def bench_frames(base: str, users: int) -> list[pl.DataFrame]:
    groups = max(1, users // 100)
    ous = [f"OU=Dept{d},{base}" for d in range(10)]
    home = [ous[i % len(ous)] for i in range(users)]
    return [
        pl.DataFrame({"dn": ous, "objectClass": [["top", "organizationalUnit"]] * len(ous)}),
        pl.DataFrame(
            {
                "dn": [f"CN=bench{i:06d},{home[i]}" for i in range(users)],
                "objectClass": [USER] * users,
                "sAMAccountName": [f"b{users}-{i:06d}" for i in range(users)],
                "userPrincipalName": [f"bench{i:06d}.{users}@corp.example.com" for i in range(users)],
                "givenName": [f"Given{i}" for i in range(users)],
                "sn": [f"Surname{i}" for i in range(users)],
                "displayName": [f"Bench User {i}" for i in range(users)],
                "mail": [f"bench{i:06d}@corp.example.com" for i in range(users)],
                "department": [f"Dept{i % 10}" for i in range(users)],
                "title": [["Engineer", "Manager", "Analyst"][i % 3] for i in range(users)],
                "proxyAddresses": [
                    [f"SMTP:bench{i:06d}@corp.example.com", f"smtp:b{i}@corp.example.com"]
                    for i in range(users)
                ],
            }
        ),
        pl.DataFrame(
            {
                "dn": [f"CN=benchgroup{g:04d},{base}" for g in range(groups)],
                "objectClass": [["top", "group"]] * groups,
                "sAMAccountName": [f"bg{users}-{g:04d}" for g in range(groups)],
                "member": [
                    [f"CN=bench{i:06d},{home[i]}" for i in range(g, users, groups)] for g in range(groups)
                ],
            }
        ),
    ]


def seed(client: LdapClient, base_parent: str, users: int) -> str:
    """A seeded OU for ``users`` users, created once and reused by later runs."""
    base = f"OU=bench-{users},{base_parent}"
    marker = client.read(base, ["description"])
    if marker is not None and marker["raw_attributes"].get("description") == [b"complete"]:
        return base
    if marker is not None:
        client.delete(base, tree=True)
    client.add(base, ["top", "organizationalUnit"], {})
    started = time.perf_counter()
    stats = load_frames(client, bench_frames(base, users))
    print(f"seeded {stats.added} objects in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    client.modify(base, {"description": [(ldap3.MODIFY_REPLACE, ["complete"])]})
    return base


def raw_paged_search(conn: ldap3.Connection, base: str, flt: str, attributes: list[str], page: int) -> int:
    count = 0
    cookie: bytes | None = None
    while True:
        conn.search(base, flt, attributes=attributes, paged_size=page, paged_cookie=cookie)
        count += sum(1 for e in conn.response if e["type"] == "searchResEntry")
        cookie = conn.result["controls"]["1.2.840.113556.1.4.319"]["value"]["cookie"]
        if not cookie:
            return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a small forest (1,000 users)")
    parser.add_argument("--users", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args()
    users = args.users or (1000 if args.quick else 3000)
    rounds = args.rounds or (5 if args.quick else 7)
    logging.basicConfig(level=logging.WARNING)

    dc = ensure_samba_dc()
    try:
        settings = AdSettings(
            name="bench",
            host=dc.host,
            bind_dn=dc.bind_dn,
            password=dc.password_ref,
            ca_file=str(dc.ca_file),
            tls_server_name=dc.tls_server_name,
            partitions=(AdPartition(dc.base_dn),),
            page_size=args.page_size,
        )
        loader = AdConnector(settings).client
        assert isinstance(loader, LdapClient)
        base = seed(loader, dc.base_dn, users)
        settings = AdSettings(**{**settings.__dict__, "partitions": (AdPartition(dc.base_dn),)})
        engine = AdConnector(settings)
        client = engine.client  # bind and schema discovery happen once, outside the timings
        assert isinstance(client, LdapClient)
        raw_conn = LdapClient(settings.endpoint(), dc.password()).connect()
        attributes = list(engine.attributes)
        flt = engine._filter

        engine_best = raw_best = float("inf")
        objects = raw_objects = 0
        result = None
        for round_ in range(rounds):
            # Alternate which goes first, so that neither always meets the server's warmer caches.
            for which in ("raw", "engine") if round_ % 2 == 0 else ("engine", "raw"):
                started = time.perf_counter()
                if which == "raw":
                    raw_objects = raw_paged_search(raw_conn, dc.base_dn, flt, attributes, args.page_size)
                    raw_best = min(raw_best, time.perf_counter() - started)
                else:
                    result = engine.full_import()
                    engine_best = min(engine_best, time.perf_counter() - started)
                    objects = sum(b.frame.height for b in result.batches)
                print(f"round {round_} {which}: {time.perf_counter() - started:.3f}s", file=sys.stderr)
        assert result is not None
        if objects != raw_objects:
            print(f"warning: engine read {objects} objects, raw search {raw_objects}", file=sys.stderr)

        changed = max(1, objects // 100)
        users_frame = next(b.frame for b in result.batches if b.object_type == "user")
        user_dns = users_frame.filter(pl.col("_dn").str.ends_with(base))["_dn"].to_list()[:changed]
        stamp = str(time.time())
        for dn in user_dns:
            client.modify(dn, {"title": [(ldap3.MODIFY_REPLACE, [f"changed {stamp}"])]})
        started = time.perf_counter()
        delta = engine.delta_import(result.watermarks)
        delta_seconds = time.perf_counter() - started
        delta_objects = sum(b.frame.height for b in delta.batches)
        if delta_objects != len(user_dns):
            print(
                f"warning: delta returned {delta_objects} objects, {len(user_dns)} changed", file=sys.stderr
            )

        engine_rate = objects / engine_best
        raw_rate = raw_objects / raw_best
        print(
            f"full import: engine {engine_best:.3f}s, raw ldap3 {raw_best:.3f}s (best of {rounds}); "
            f"delta of {delta_objects} in {delta_seconds:.3f}s; attributes {len(attributes)} "
            f"({', '.join(DEFAULT_ATTRIBUTES[:4])}, ...)",
            file=sys.stderr,
        )
        engine.close()
        print(
            json.dumps(
                {
                    "objects": objects,
                    "engine_objects_per_s": round(engine_rate, 1),
                    "raw_ldap3_objects_per_s": round(raw_rate, 1),
                    "ratio": round(engine_rate / raw_rate, 3),
                    "delta_objects_per_s": round(delta_objects / delta_seconds, 1),
                }
            )
        )
    finally:
        stop_samba_dc(dc)


if __name__ == "__main__":
    main()
