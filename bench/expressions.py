"""Benchmark: 30 expressions of the default sync rules over generated users, vectorized vs reference.

Usage: ``python bench/expressions.py [--quick] [--rows N] [--sample N]``. The reference evaluator is
timed on a sample of rows and its rate extrapolated (stated in the output). The last line is JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from transforms.expressions import ExpressionRuntimeError, compile_expression, evaluate, parse

CLOUD_FILTERED = (
    'IIF(IsPresent([isCriticalSystemObject]) || IsPresent([sAMAccountName]) = False || [sAMAccountName] = "SUPPORT_388945a0"'
    ' || Left([mailNickname], 14) = "SystemMailbox{" || Left([sAMAccountName], 4) = "AAD_"'
    ' || (Left([mailNickname], 4) = "CAS_" && (InStr([mailNickname], "}") > 0))'
    ' || (Left([sAMAccountName], 4) = "CAS_" && (InStr([sAMAccountName], "}") > 0)) || Left([sAMAccountName], 5) = "MSOL_"'
    " || CBool(IIF(IsPresent([msExchRecipientTypeDetails]),BitAnd([msExchRecipientTypeDetails],&H21C07000) > 0,NULL))"
    ' || CBool(InStr(DNComponent(CRef([dn]),1),"\\\\0ACNF:")>0), True, NULL)'
)

EXPRESSIONS: dict[str, str] = {
    "cloudFiltered": CLOUD_FILTERED,
    "sourceAnchorBinary": "IIF(IsPresent([mS-DS-ConsistencyGuid]),[mS-DS-ConsistencyGuid],[objectGUID])",
    "sourceAnchor": (
        "IIF([msExchRecipientTypeDetails]=2,NULL,IIF(IsPresent([mS-DS-ConsistencyGuid]),"
        "IIF(IsString([mS-DS-ConsistencyGuid]),CStr([mS-DS-ConsistencyGuid]),ConvertToBase64([mS-DS-ConsistencyGuid])),"
        "ConvertToBase64([objectGUID])))"
    ),
    "sourceAnchorGroup": "ConvertToBase64([objectGUID])",
    "userPrincipalName": (
        "IIF(IsPresent([userPrincipalName]),[userPrincipalName], IIF(IsPresent([sAMAccountName]),"
        '([sAMAccountName]&"@"&%Domain.FQDN%),Error("AccountName is not present")))'
    ),
    "pwdLastSet": 'IIF(IsPresent([pwdLastSet]),CStr(FormatDateTime(DateFromNum([pwdLastSet]),"yyyyMMddHHmmss.0Z")),NULL)',
    "accountEnabled": "IIF(BitAnd([userAccountControl],2)=0,True,False)",
    "objectSidString": "StringFromSid([objectSid])",
    "proxyAddresses": 'RemoveDuplicates(Trim(ImportedValue("proxyAddresses")))',
    "displayName": "IIF(IsNullOrEmpty([displayName]),[cn],[displayName])",
    "description": "IIF(IsNullOrEmpty([description]),NULL,Left(Trim(Item([description],1)),448))",
    "info": "Left(Trim([info]),448)",
    "givenName": "Trim([givenName])",
    "sn": "Trim([sn])",
    "title": "Trim([title])",
    "department": "Trim([department])",
    "company": "Trim([company])",
    "telephoneNumber": "Trim([telephoneNumber])",
    "mail": "Trim([mail])",
    "streetAddress": "Trim([streetAddress])",
    "sourceObjectType": 'IIF(IsPresent([msExchRecipientTypeDetails]), IIF([msExchRecipientTypeDetails]=2, NULL, "User"), "User")',
    "mailNickname": "IIF(IsPresent([mailNickname]), [mailNickname], [cn])",
    "securityEnabled": "CBool(BitAnd([groupType],-2147483648))",
    "memberCount": 'ValueCount("proxyAddresses")',
    "primarySmtp": 'IIF(Contains([proxyAddresses],"SMTP:")>0,Mid(Item([proxyAddresses],Contains([proxyAddresses],"SMTP:")),6),NULL)',
    "noSip": 'IIF(InStr([proxyAddresses],"SIP:")=1,NULL,[proxyAddresses])',
    "contributingConnectorUser": "%Connector.ID%",
    "rdn": "DNComponent(CRef([dn]),1)",
    "ou": 'DNComponentRev(CRef([dn]),1,"DC")',
    "otherTelephone": 'Select($item,[otherTelephone],Replace($item,"-",""))',
}
PARAMS = {"Domain.FQDN": "sales.contoso.com", "Connector.ID": "b891884f-051e-4a83-95af-2544101c9083"}


def _random(seed: int) -> pl.Expr:
    """Uniform [0, 1) per row from a seeded hash of the row number (no NumPy needed)."""
    return (pl.int_range(pl.len(), dtype=pl.UInt64).hash(seed) % 1_000_003).cast(pl.Float64) / 1_000_003


def _pick(values: list[str], seed: int) -> pl.Expr:
    index = pl.int_range(pl.len(), dtype=pl.UInt64).hash(seed) % len(values)
    return index.cast(pl.Int64).replace_strict(list(range(len(values))), values, return_dtype=pl.Utf8)


def generate(n: int, seed: int = 7) -> pl.DataFrame:
    """Realistic-looking users, vectorized (a later integration switches to the forest generator)."""
    rng = random.Random(seed)
    guid_raw = rng.randbytes(16 * n)
    sid_prefix = bytes.fromhex("010500000000000515000000a065cf7e784b9b5fe77c8770")
    rids = rng.randbytes(4 * n)
    base = pl.DataFrame(
        {
            "objectGUID": pl.Series([guid_raw[i * 16 : i * 16 + 16] for i in range(n)], dtype=pl.Binary),
            "objectSid": pl.Series([sid_prefix + rids[i * 4 : i * 4 + 4] for i in range(n)], dtype=pl.Binary),
        }
    )
    row = pl.int_range(pl.len())
    sam0 = pl.lit("user") + row.cast(pl.Utf8).str.zfill(7)
    special = _random(seed + 1)
    sam = (
        pl.when(special < 0.001)
        .then(pl.lit("MSOL_") + sam0)
        .when(special < 0.002)
        .then(pl.lit("AAD_") + sam0)
        .otherwise(sam0)
    )
    base = base.with_columns(
        sam.alias("sAMAccountName"),
        _pick(["Anna ", " Ben", "Chloé", "Dmitri", "Eve", "Fatima", "Gustav", "Hana"], seed + 2).alias(
            "givenName"
        ),
        _pick(["Smith", "Müller ", "  Nguyen", "O'Brien", "García", "Kowalski"], seed + 3).alias("sn"),
        (_random(seed + 4) < 0.6).alias("consistency"),
        (
            pl.lit(129_000_000_000_000_000)
            + (pl.int_range(pl.len(), dtype=pl.UInt64).hash(seed + 5) % 4_000_000_000_000_000).cast(pl.Int64)
        ).alias("pwdLastSet"),
        (_random(seed + 6) < 0.1).alias("uacDisabled"),
        (_random(seed + 7) < 0.7).alias("mailbox"),
        _pick(
            [
                "1",
                "1",
                "1",
                "1",
                "1",
                "1",
                "1",
                "1",
                "1",
                "1",
                "1",
                "1",
                "1",
                "1",
                "1",
                "1",
                "1",
                "2",
                "8192",
                "2147483648",
            ],
            seed + 8,
        )
        .cast(pl.Int64)
        .alias("rtd"),
        (_random(seed + 9) < 0.1).alias("upnMissing"),
        (_random(seed + 10) < 0.3).alias("sip"),
        (_random(seed + 11) < 0.001).alias("conflict"),
        _pick(["Sales", "Engineering", "HR", "Finance", "Support"], seed + 12).alias("ou"),
        _pick([" Engineer", "Manager ", "Director", "Analyst"], seed + 13).alias("title"),
        _pick(["Sales ", "R&D", " HR", "Finance"], seed + 14).alias("dept"),
        (pl.int_range(pl.len(), dtype=pl.UInt64).hash(seed + 15) % 3).cast(pl.Int64).alias("phones"),
    )
    name = pl.col("givenName").str.strip_chars() + pl.lit(" ") + pl.col("sn").str.strip_chars()
    mail = pl.col("sAMAccountName") + pl.lit("@contoso.com")
    cn = (
        pl.when(pl.col("conflict"))
        .then(pl.col("sAMAccountName") + pl.lit("\\0ACNF:1234"))
        .otherwise(pl.col("sAMAccountName"))
    )
    phone = pl.lit("+1 425-555-") + (pl.int_range(pl.len()) % 10000).cast(pl.Utf8).str.zfill(4)
    frame = base.select(
        pl.col("sAMAccountName"),
        pl.col("givenName"),
        pl.col("sn"),
        cn.alias("cn"),
        pl.when(pl.int_range(pl.len()) % 5 != 0).then(name).alias("displayName"),
        pl.when(~pl.col("upnMissing"))
        .then(pl.col("sAMAccountName") + pl.lit("@contoso.com"))
        .alias("userPrincipalName"),
        pl.when(pl.col("mailbox")).then(mail).alias("mail"),
        pl.when(pl.col("mailbox")).then(pl.col("sAMAccountName")).alias("mailNickname"),
        pl.when(pl.col("mailbox"))
        .then(
            pl.concat_list(
                [
                    pl.lit("SMTP:") + mail,
                    pl.lit(" smtp:") + pl.col("sAMAccountName") + pl.lit("@contoso.mail.onmicrosoft.com "),
                ]
            )
        )
        .otherwise(pl.lit([], dtype=pl.List(pl.Utf8)))
        .alias("proxy"),
        pl.col("sip"),
        pl.when(pl.col("mailbox")).then(pl.col("rtd")).cast(pl.Int64).alias("msExchRecipientTypeDetails"),
        pl.col("objectGUID"),
        pl.when(pl.col("consistency")).then(pl.col("objectGUID")).alias("mS-DS-ConsistencyGuid"),
        pl.col("objectSid"),
        pl.col("pwdLastSet"),
        pl.when(pl.col("uacDisabled"))
        .then(pl.lit(514))
        .otherwise(pl.lit(512))
        .cast(pl.Int64)
        .alias("userAccountControl"),
        pl.lit(None, dtype=pl.Boolean).alias("isCriticalSystemObject"),
        (pl.lit("CN=") + cn + pl.lit(",OU=") + pl.col("ou") + pl.lit(",DC=sales,DC=contoso,DC=com")).alias(
            "dn"
        ),
        pl.when(pl.int_range(pl.len()) % 3 == 0)
        .then(pl.concat_list([pl.lit(" Employee of ") + pl.col("ou")]))
        .alias("description"),
        pl.when(pl.int_range(pl.len()) % 4 == 0).then(pl.lit("  notes about ") + name).alias("info"),
        pl.col("title"),
        pl.col("dept").alias("department"),
        pl.lit("Contoso Ltd ").alias("company"),
        phone.alias("telephoneNumber"),
        pl.lit(" 1 Microsoft Way ").alias("streetAddress"),
        pl.lit(None, dtype=pl.Int64).alias("groupType"),
        pl.when(pl.col("phones") > 0)
        .then(pl.concat_list([phone, phone.str.replace("425", "206")]).list.head(pl.col("phones")))
        .alias("otherTelephone"),
    )
    proxy = (
        pl.when(pl.col("sip") & (pl.col("proxy").list.len() > 0))
        .then(pl.concat_list([pl.lit("SIP:") + pl.col("mail"), pl.col("proxy")]))
        .otherwise(pl.col("proxy"))
    )
    return frame.with_columns(proxy.alias("proxyAddresses")).drop("proxy", "sip")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="small sizes (20k rows, 1k-row reference sample)"
    )
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--sample", type=int, default=None, help="rows timed on the reference evaluator")
    args = parser.parse_args()
    rows = args.rows or (20_000 if args.quick else 1_000_000)
    sample = min(rows, args.sample or (1_000 if args.quick else 20_000))

    started = time.perf_counter()
    df = generate(rows)
    print(f"generated {rows} users x {df.width} columns in {time.perf_counter() - started:.2f} s", flush=True)
    schema = df.schema

    compiled = {
        name: compile_expression(text, params=PARAMS, schema=schema) for name, text in EXPRESSIONS.items()
    }
    exprs: list[pl.Expr] = []
    for name, c in compiled.items():
        exprs.append(c.expr.alias(name))
        if c.error_expr is not None:
            exprs.append(c.error_expr.alias(f"{name}__error"))
        if c.flag_expr is not None:
            exprs.append(c.flag_expr.alias(f"{name}__flag"))
    lazy = df.lazy()
    started, cpu_started = time.perf_counter(), time.process_time()
    result = lazy.select(exprs).collect()
    vectorized_s = time.perf_counter() - started
    # CPU seconds over all threads: on a shared machine wall time also measures the neighbours.
    vectorized_cpu_s = time.process_time() - cpu_started
    print(
        f"vectorized: {len(compiled)} expressions over {rows} rows in {vectorized_s:.2f} s ({result.width} result columns)",
        flush=True,
    )

    nodes = {name: parse(text) for name, text in EXPRESSIONS.items()}
    sample_rows = df.head(sample).to_dicts()
    started = time.perf_counter()
    for row in sample_rows:
        for node in nodes.values():
            with contextlib.suppress(ExpressionRuntimeError):  # a per-object Error() is a result too
                evaluate(node, row, params=PARAMS, schema=schema)
    reference_s = time.perf_counter() - started
    reference_rate = sample / reference_s
    vectorized_rate = rows / vectorized_s
    print(
        f"reference: {len(nodes)} expressions over a sample of {sample} rows in {reference_s:.2f} s; "
        f"rate extrapolated to rows/s from the sample",
        flush=True,
    )
    print(
        json.dumps(
            {
                "rows": rows,
                "expressions": len(compiled),
                "vectorized_rows_per_s": round(vectorized_rate),
                "reference_rows_per_s": round(reference_rate),
                "reference_sample_rows": sample,
                "speedup": round(vectorized_rate / reference_rate, 1),
                "vectorized_s": round(vectorized_s, 3),
                "vectorized_cpu_s": round(vectorized_cpu_s, 3),
                "load_average_1m": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
