"""Sync benchmark: a generated forest through the bench rule set, full sync then a 1% delta sync.

    .venv/bin/python bench/sync.py --users 1000000
    .venv/bin/python bench/sync.py --quick

Generates N users, N/10 groups (about 10 memberships per user), N/20 contacts and N/4 computers as
connector-space frames (vectorized), loads the rules of bench/rules (25 inbound, 12 outbound, shaped
after the default rules of spec section 5), runs a full sync into an empty metaverse, then goes on
as the product's cycle does: exports to a stand-in Entra ID (which assigns anchors), imports it back
(confirming the exported values, so the export memory empties) and runs delta syncs until nothing is
left to export. Then it changes 1% of the users and groups and times a delta sync of them.

The last line is JSON: users, objects, full_sync_s, delta_sync_s (the first of three runs of the same
delta, delta_sync_runs_s), delta_ratio, objects_per_s,
peak_rss_mb (the whole run), full_sync_peak_rss_mb (up to the end of the full sync),
export_peak_rss_mb (up to the end of the stand-in exports: the export memory and anchors recorded by
transforms.sync.exports, as the export stage does), changed_objects, delta_export_rows.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import flows  # noqa: E402, F401, I001  (first: it sets the allocator's page decay before Polars loads)
import polars as pl  # noqa: E402

from flows.config import with_option_defaults  # noqa: E402
from flows.rulesets import read_rule_files  # noqa: E402
from transforms.rules import default_expression_checker, load_rule_texts  # noqa: E402
from transforms.sync import SyncState, apply_export_results, record_exports, run_sync  # noqa: E402
from transforms.sync.frames import rows_where  # noqa: E402
from transforms.sync.values import decode_json_expr  # noqa: E402

DOMAIN = "DC=corp,DC=example,DC=com"
DEPARTMENTS = ["Sales", "IT", "HR", "Finance", "Legal", "Marketing", "Support", "R&D", "Ops", "Facilities"]
CONNECTORS = {"corp": "ad", "aad": "aad"}
PARAMS = {
    "corp": {
        "Domain.FQDN": "corp.example.com",
        "Domain.Netbios": "CORP",
        "Domain.LDAP": DOMAIN,
        "Forest.FQDN": "corp.example.com",
        "Forest.Netbios": "CORP",
        "Forest.LDAP": DOMAIN,
    }
}


_HEX = pl.Series([f"{b:02x}" for b in range(256)])


def _sid(rid: pl.Expr) -> pl.Expr:
    """A domain SID S-1-5-21-1004336348-1177238915-682003330-<rid> as its binary form."""
    le32 = [pl.lit(_HEX).gather((rid // (256**k)) % 256) for k in range(4)]
    prefix = "0105" + "000000000005" + "15000000" + "dc7bdd3b" + "83402b46" + "82b3a628"
    return pl.concat_str(pl.lit(prefix), *le32).str.decode("hex")


def _guid(prefix: str, i: pl.Expr) -> pl.Expr:
    return pl.concat_str(pl.lit(prefix), i.cast(pl.String).str.zfill(12)).cast(pl.Binary)


def users_frame(n: int, groups: int) -> pl.DataFrame:
    i = pl.col("i")
    name = pl.concat_str(pl.lit("user"), i.cast(pl.String))
    dn = pl.concat_str(pl.lit("CN=User "), i.cast(pl.String), pl.lit(",OU=Users," + DOMAIN))
    manager = (i // 10) * 10
    mail = pl.concat_str(name, pl.lit("@example.com"))
    frame = pl.select(pl.int_range(n, dtype=pl.Int64).alias("i")).select(
        pl.concat_str(pl.lit("u"), i.cast(pl.String)).alias("_anchor"),
        dn.alias("_dn"),
        pl.lit("user").alias("_object_type"),
        pl.lit("add").alias("_pending"),
        _guid("G", i).alias("objectGUID"),
        _sid(i + 1000).alias("objectSid"),
        name.alias("sAMAccountName"),
        name.alias("cn"),
        pl.concat_str(name, pl.lit("@corp.example.com")).alias("userPrincipalName"),
        pl.concat_str(pl.lit("Given"), (i % 997).cast(pl.String)).alias("givenName"),
        pl.concat_str(pl.lit("Sur"), (i % 1009).cast(pl.String)).alias("sn"),
        pl.concat_str(pl.lit("User "), i.cast(pl.String)).alias("displayName"),
        mail.alias("mail"),
        name.alias("mailNickname"),
        pl.concat_list(
            pl.concat_str(pl.lit("SMTP:"), mail),
            pl.concat_str(pl.lit("smtp:"), name, pl.lit("@corp.example.com")),
        ).alias("proxyAddresses"),
        pl.lit(pl.Series(DEPARTMENTS)).gather(i % len(DEPARTMENTS)).alias("department"),
        pl.concat_str(pl.lit("Title "), (i % 50).cast(pl.String)).alias("title"),
        pl.lit("Example Corp").alias("company"),
        pl.lit("Copenhagen").alias("l"),
        pl.lit("DK").alias("c"),
        pl.lit("Denmark").alias("co"),
        pl.concat_str(pl.lit("+45 "), (i % 100000000).cast(pl.String).str.zfill(8)).alias("telephoneNumber"),
        i.cast(pl.String).alias("employeeID"),
        pl.when(i % 20 == 7)
        .then(pl.lit(514, dtype=pl.Int64))
        .otherwise(pl.lit(512, dtype=pl.Int64))
        .alias("userAccountControl"),
        (pl.lit(132_000_000_000_000_000, dtype=pl.Int64) + i * 1_000_000_000).alias("pwdLastSet"),
        pl.when(i != manager)
        .then(pl.concat_str(pl.lit("CN=User "), manager.cast(pl.String), pl.lit(",OU=Users," + DOMAIN)))
        .alias("manager"),
        pl.concat_list(pl.concat_str(pl.lit("Employee "), i.cast(pl.String))).alias("description"),
        pl.lit(1, dtype=pl.Int64).alias("msExchRecipientTypeDetails"),
        pl.concat_str(pl.lit("/o=Example/cn="), name).alias("legacyExchangeDN"),
        pl.when(i % 3 == 0).then(pl.lit("ext-a")).alias("extensionAttribute1"),
        pl.when(i % 5 == 0).then(pl.lit("ext-b")).alias("extensionAttribute2"),
        pl.when(i % 1000 == 0).then(pl.lit("NoSync")).alias("extensionAttribute15"),
        pl.lit(None, dtype=pl.Binary).alias("mS-DS-ConsistencyGuid"),
        pl.lit(None, dtype=pl.String).alias("isCriticalSystemObject"),
        pl.lit(None, dtype=pl.String).alias("adminDescription"),
    )
    del groups
    return frame


def groups_frame(users: int, groups: int, per_user: int = 10) -> pl.DataFrame:
    u = pl.col("u")
    memberships = (
        pl.select(pl.int_range(users, dtype=pl.Int64).alias("u"))
        .with_columns(pl.int_ranges(0, per_user).alias("k"))
        .explode("k")
        .select(
            ((u * 7 + pl.col("k") * 7919 + pl.col("k") * u) % groups).alias("g"),
            pl.concat_str(pl.lit("CN=User "), u.cast(pl.String), pl.lit(",OU=Users," + DOMAIN)).alias(
                "member"
            ),
        )
        .unique()
        .group_by("g")
        .agg(pl.col("member").sort())
    )
    g = pl.col("g")
    name = pl.concat_str(pl.lit("group"), g.cast(pl.String))
    base = pl.select(pl.int_range(groups, dtype=pl.Int64).alias("g")).join(memberships, on="g", how="left")
    return base.sort("g").select(
        pl.concat_str(pl.lit("g"), g.cast(pl.String)).alias("_anchor"),
        pl.concat_str(pl.lit("CN=Group "), g.cast(pl.String), pl.lit(",OU=Groups," + DOMAIN)).alias("_dn"),
        pl.lit("group").alias("_object_type"),
        pl.lit("add").alias("_pending"),
        _guid("H", g).alias("objectGUID"),
        _sid(g + 100_000_000).alias("objectSid"),
        name.alias("sAMAccountName"),
        name.alias("cn"),
        pl.concat_str(pl.lit("Group "), g.cast(pl.String)).alias("displayName"),
        pl.when(g % 2 == 0).then(pl.concat_str(name, pl.lit("@example.com"))).alias("mail"),
        pl.when(g % 2 == 0).then(name).alias("mailNickname"),
        pl.when(g % 4 == 0)
        .then(pl.lit(2, dtype=pl.Int64))
        .otherwise(pl.lit(-2147483646, dtype=pl.Int64))
        .alias("groupType"),
        pl.col("member").fill_null(pl.lit([], dtype=pl.List(pl.String))),
        pl.concat_list(pl.concat_str(pl.lit("Group "), g.cast(pl.String))).alias("description"),
        pl.lit(None, dtype=pl.String).alias("isCriticalSystemObject"),
        pl.lit(None, dtype=pl.String).alias("adminDescription"),
    )


def contacts_frame(n: int) -> pl.DataFrame:
    i = pl.col("i")
    return pl.select(pl.int_range(n, dtype=pl.Int64).alias("i")).select(
        pl.concat_str(pl.lit("c"), i.cast(pl.String)).alias("_anchor"),
        pl.concat_str(pl.lit("CN=Contact "), i.cast(pl.String), pl.lit(",OU=Contacts," + DOMAIN)).alias(
            "_dn"
        ),
        pl.lit("contact").alias("_object_type"),
        pl.lit("add").alias("_pending"),
        _guid("C", i).alias("objectGUID"),
        _sid(i + 300_000_000).alias("objectSid"),
        pl.concat_str(pl.lit("Contact "), i.cast(pl.String)).alias("cn"),
        pl.concat_str(pl.lit("contact"), i.cast(pl.String), pl.lit("@partner.example")).alias("mail"),
        pl.concat_str(pl.lit("Contact "), i.cast(pl.String)).alias("displayName"),
    )


def computers_frame(n: int) -> pl.DataFrame:
    i = pl.col("i")
    return pl.select(pl.int_range(n, dtype=pl.Int64).alias("i")).select(
        pl.concat_str(pl.lit("m"), i.cast(pl.String)).alias("_anchor"),
        pl.concat_str(pl.lit("CN=PC"), i.cast(pl.String), pl.lit(",OU=Computers," + DOMAIN)).alias("_dn"),
        pl.lit("computer").alias("_object_type"),
        pl.lit("add").alias("_pending"),
        _guid("M", i).alias("objectGUID"),
        _sid(i + 200_000_000).alias("objectSid"),
        pl.concat_str(pl.lit("PC"), i.cast(pl.String)).alias("cn"),
        pl.when(i % 2 == 0).then(pl.concat_list(_guid("X", i))).alias("userCertificate"),
    )


def change_one_percent(frame: pl.DataFrame, column: str, value: pl.Expr) -> pl.DataFrame:
    """Change ``column`` on every 100th object and flag it pending; everything else is unchanged."""
    idx = pl.int_range(pl.len())
    hit = idx % 100 == 3
    return frame.with_columns(
        pl.when(hit).then(value).otherwise(pl.col(column)).alias(column),
        pl.when(hit).then(pl.lit("update")).otherwise(pl.lit("none")).alias("_pending"),
    )


def _json_dtype(sample: str | None) -> pl.DataType:
    """The column type of JSON values as json_expr writes them (lists, base64 objects, numbers, text)."""
    if sample is None:
        return pl.String()
    if sample.startswith("["):
        inner = json.loads(sample)
        first = json.dumps(inner[0]) if inner else None
        return pl.List(_json_dtype(first))
    if sample.startswith('{"base64"'):
        return pl.Binary()
    if sample in ("true", "false"):
        return pl.Boolean()
    if sample[0].isdigit() or sample[0] == "-":
        return pl.Int64() if "." not in sample else pl.Float64()
    return pl.String()


def export(
    state: SyncState, exported: pl.DataFrame, connector: str = "aad"
) -> tuple[SyncState, pl.DataFrame]:
    """Export ``exported`` to a stand-in target that accepts everything and assigns anchors
    ``aad-<mv id>`` to created objects: the state after the export, and the export results."""
    exported = rows_where(exported, pl.col("connector") == connector)  # (all rows: no copy)
    results = (
        exported.select("connector", "object_type", "_mv_id", "_anchor", "op")
        .unique(["connector", "_mv_id"], keep="first", maintain_order=True)
        .with_columns(
            pl.coalesce("_anchor", pl.concat_str(pl.lit("aad-"), pl.col("_mv_id"))).alias("_anchor"),
            pl.lit("success").alias("status"),
        )
    )
    return apply_export_results(record_exports(state, exported), results), results


def import_target(state: SyncState, results: pl.DataFrame, connector: str = "aad") -> SyncState:
    """Import the stand-in target back, as the next cycle does: every exported object (``results``)
    with the values it was sent, flagged pending (add for new objects, update otherwise, delete for
    deleted ones), so that the next sync confirms the export memory."""
    links = state.links.filter((pl.col("connector") == connector) & pl.col("_anchor").is_not_null())
    # The values as sent: the export memory, where references to objects created in the same export
    # name the anchors the target assigned.
    sent = (
        state.export_memory.lazy()
        .filter(pl.col("connector") == connector)
        .select("_mv_id", "attribute", "value")
    )
    space = dict(state.connector_spaces.get(connector, {}))
    for object_type in results.get_column("object_type").unique().sort().to_list():
        typed = results.filter(pl.col("object_type") == object_type)
        gone = typed.filter(pl.col("op") == "delete")
        objects = (
            typed.filter(pl.col("op") != "delete")
            .select("_mv_id")
            .join(links.select("_mv_id", "_anchor", "_dn"), on="_mv_id", how="inner", maintain_order="left")
        )
        rows = (
            sent.filter(pl.col("attribute") != "dn")
            .join(objects.lazy().select("_mv_id"), on="_mv_id", how="semi")
            .collect()
        )
        # One attribute at a time: a pivot of every value at once costs gigabytes at a million users.
        columns: list[pl.Series] = []
        for attribute in rows.get_column("attribute").unique().sort().to_list():
            one = rows.filter(pl.col("attribute") == attribute).unique(
                "_mv_id", keep="last", maintain_order=True
            )
            value = objects.select("_mv_id").join(one, on="_mv_id", how="left", maintain_order="left")
            sample = value.get_column("value").drop_nulls().head(1).to_list()
            dtype = _json_dtype(sample[0] if sample else None)
            columns.append(
                value.select(decode_json_expr(pl.col("value"), dtype).alias(attribute)).to_series()
            )
        del rows
        values = objects.select("_anchor", "_dn").with_columns(columns)
        current = space.get(object_type)
        if current is None:
            space[object_type] = values.with_columns(
                pl.lit(object_type).alias("_object_type"), pl.lit("add").alias("_pending")
            )
            continue
        known = current.get_column("_anchor")
        incoming = values.with_columns(
            pl.lit(object_type).alias("_object_type"),
            pl.when(pl.col("_anchor").is_in(known.implode()))
            .then(pl.lit("update"))
            .otherwise(pl.lit("add"))
            .alias("_pending"),
        )
        updated = current.join(incoming.select("_anchor"), on="_anchor", how="inner", maintain_order="left")
        updated = updated.with_columns(
            pl.lit(None, dtype=incoming.schema[c]).alias(c)
            for c in incoming.columns
            if c not in current.columns
        )
        merged = updated.update(incoming.drop("_dn"), on="_anchor", how="left", include_nulls=False)
        deleted = pl.col("_anchor").is_in(gone.get_column("_anchor").implode())
        rest = current.join(incoming.select("_anchor"), on="_anchor", how="anti", maintain_order="left")
        rest = rest.with_columns(
            pl.when(deleted).then(pl.lit("delete")).otherwise(pl.col("_pending")).alias("_pending")
        )
        new = incoming.filter(pl.col("_pending") == "add")
        space[object_type] = pl.concat([rest, merged, new], how="diagonal_relaxed")
    return replace(state, connector_spaces={**state.connector_spaces, connector: space})


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="20,000 users")
    parser.add_argument(
        "--rules",
        type=Path,
        default=ROOT / "bench" / "rules",
        help="rule folder (bench/rules: 25 inbound, 12 outbound; rules/default has 6 outbound only)",
    )
    parser.add_argument(
        "--option",
        action="append",
        default=["user_matching=objects-once"],
        help="rule-set option NAME=VALUE (rules with `when` conditions)",
    )
    args = parser.parse_args()
    n = 20_000 if args.quick else args.users
    options = with_option_defaults(dict(o.split("=", 1) for o in args.option))
    rules = load_rule_texts(
        read_rule_files(args.rules), check_expression=default_expression_checker(), options=options
    )
    inbound = sum(r.direction.value == "inbound" for r in rules)
    print(f"rules: {inbound} inbound, {len(rules) - inbound} outbound", file=sys.stderr)
    t = time.perf_counter()
    spaces = {
        "corp": {
            "user": users_frame(n, max(1, n // 10)),
            "group": groups_frame(n, max(1, n // 10)),
            "contact": contacts_frame(n // 20),
            "computer": computers_frame(n // 4),
        },
        "aad": {},
    }
    objects = sum(f.height for f in spaces["corp"].values())
    print(f"generated {objects} objects in {time.perf_counter() - t:.1f}s", file=sys.stderr)

    t = time.perf_counter()
    full = run_sync(
        SyncState(connector_spaces=spaces), rules, connectors=CONNECTORS, params_by_connector=PARAMS
    )
    full_s = time.perf_counter() - t
    full_peak = peak_rss_mb()
    print(
        f"full sync {full_s:.1f}s: {full.pending_exports.height} pending export rows, "
        f"{full.errors.height} errors, peak {full_peak:.0f} MB",
        file=sys.stderr,
    )
    for row in full.counters.iter_rows():
        print("  ", *row, file=sys.stderr)
    del spaces

    # The cycle goes on as the product's does: export to the target, then the next cycle imports the
    # target (confirming the exported values) and runs a delta sync, until nothing is left to export.
    state, exported = full.state, full.pending_exports
    del full
    export_peak = 0.0
    for round_ in range(1, 4):
        state, results = export(state, exported)
        del exported  # (the pending exports are the largest frame of the run)
        export_peak = max(export_peak, peak_rss_mb())
        state = import_target(state, results)
        print(f"imported the target back, peak {peak_rss_mb():.0f} MB", file=sys.stderr)
        t = time.perf_counter()
        settle = run_sync(state, rules, connectors=CONNECTORS, params_by_connector=PARAMS, mode="delta")
        state, exported = settle.state, settle.pending_exports
        del settle
        print(
            f"settling cycle {round_}: {time.perf_counter() - t:.1f}s, {state.export_memory.height} "
            f"unconfirmed exported values, {exported.height} pending export rows, peak {peak_rss_mb():.0f} MB",
            file=sys.stderr,
        )
        if exported.height == 0:
            break
    state = record_exports(state, exported)
    del exported

    corp = state.connector_spaces["corp"]
    changed = {
        "user": change_one_percent(corp["user"], "title", pl.lit("Changed title")),
        "group": change_one_percent(corp["group"], "member", pl.col("member").list.slice(1)),
        "contact": corp["contact"],
        "computer": corp["computer"],
    }
    # The sync stage loads its state from the store, in one chunk per column (Store.query).
    state = replace(state, connector_spaces={**state.connector_spaces, "corp": changed}).contiguous()
    pending = sum(f.filter(pl.col("_pending") != "none").height for f in changed.values())
    del corp
    # The same delta three times on the same state (the engine is pure): the first run is the figure
    # (a scheduled cycle runs it once); all three show how much one run varies on this machine.
    runs: list[float] = []
    for _ in range(3):
        t = time.perf_counter()
        delta = run_sync(state, rules, connectors=CONNECTORS, params_by_connector=PARAMS, mode="delta")
        runs.append(time.perf_counter() - t)
    delta_s = runs[0]
    print(
        f"delta sync of {pending} changed objects {delta_s:.2f}s: {delta.pending_exports.height} pending export rows",
        file=sys.stderr,
    )
    print(
        json.dumps(
            {
                "users": n,
                "objects": objects,
                "full_sync_s": round(full_s, 2),
                "delta_sync_s": round(delta_s, 3),
                "delta_ratio": round(delta_s / full_s, 4),
                "delta_sync_runs_s": [round(r, 3) for r in runs],
                "objects_per_s": round(objects / full_s),
                "peak_rss_mb": round(peak_rss_mb()),
                "full_sync_peak_rss_mb": round(full_peak),
                "export_peak_rss_mb": round(export_peak),
                "changed_objects": pending,
                "delta_export_rows": delta.pending_exports.height,
            }
        )
    )


if __name__ == "__main__":
    main()
