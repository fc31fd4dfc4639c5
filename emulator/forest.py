"""A synthetic, deterministic Active Directory forest as Polars frames.

One frame per object class (``organizationalUnit``, ``user``, ``inetOrgPerson``, ``contact``, ``group``,
``computer``) with the columns ``dn``, ``objectClass`` (List(String)) and attribute columns in AD schema
casing, typed by :mod:`flows.connectors.attribute_types` (binary as Binary, integers Int64, booleans
Boolean, multi-valued as lists; an absent value is null, never an empty list). This is also the shape
``emulator.samba_loader.load_forest`` loads into a domain controller.

Everything is built column-wise: the randomness comes from ``random.Random(<seed, purpose>).randbytes``
reinterpreted as unsigned integers (little-endian, as on every platform we run), so a seed gives the same
forest on every run and in every process. No per-object Python loop runs except for the handful of
special objects per domain (built-in accounts, sync service accounts, replication conflicts).
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import polars as pl
import pyarrow as pa

from emulator.names import DEPARTMENTS, GIVEN_NAMES, GROUP_PURPOSES, OPERATING_SYSTEMS, SURNAMES, TITLES
from flows.connectors.attribute_types import attribute_type

ROOT_DOMAIN: Final = "corp.example.com"
TENANT_ROUTING_DOMAIN: Final = "contoso.mail.onmicrosoft.com"
# A fixed "now" keeps pwdLastSet deterministic: 2026-01-01T00:00:00Z as a Windows FILETIME.
_NOW_FILETIME: Final = (1_767_225_600 + 11_644_473_600) * 10_000_000
_DAY_FILETIME: Final = 86_400 * 10_000_000
NEVER_EXPIRES: Final = 9_223_372_036_854_775_807

UF_ACCOUNTDISABLE: Final = 0x2
UF_NORMAL_ACCOUNT: Final = 0x200
UF_WORKSTATION_TRUST_ACCOUNT: Final = 0x1000
UF_DONT_EXPIRE_PASSWD: Final = 0x10000

GROUP_GLOBAL_SECURITY: Final = -2147483646
GROUP_DOMAIN_LOCAL_SECURITY: Final = -2147483644
GROUP_UNIVERSAL_SECURITY: Final = -2147483640
GROUP_GLOBAL_DISTRIBUTION: Final = 2
GROUP_UNIVERSAL_DISTRIBUTION: Final = 8

RTD_USER_MAILBOX: Final = 1
RTD_LINKED_MAILBOX: Final = 2
RTD_MAIL_CONTACT: Final = 64
RTD_MAIL_UNIVERSAL_DISTRIBUTION_GROUP: Final = 256
RTD_MAIL_UNIVERSAL_SECURITY_GROUP: Final = 1024
RTD_ARBITRATION_MAILBOX: Final = 8_388_608
RTD_DISCOVERY_MAILBOX: Final = 536_870_912
RTD_ROLE_GROUP: Final = 1_073_741_824
RTD_REMOTE_USER_MAILBOX: Final = 2_147_483_648

OBJECT_CLASSES: Final[dict[str, list[str]]] = {
    "organizationalUnit": ["top", "organizationalUnit"],
    "user": ["top", "person", "organizationalPerson", "user"],
    "inetOrgPerson": ["top", "person", "organizationalPerson", "user", "inetOrgPerson"],
    "contact": ["top", "person", "organizationalPerson", "contact"],
    "group": ["top", "group"],
    "computer": ["top", "person", "organizationalPerson", "user", "computer"],
}

_OU_ATTRS: Final = ("ou", "description", "objectGUID")
_USER_ATTRS: Final = (
    "cn", "sAMAccountName", "userPrincipalName", "givenName", "sn", "displayName", "mail",
    "mailNickname", "proxyAddresses", "department", "title", "employeeID", "telephoneNumber",
    "otherTelephone", "manager", "description", "userAccountControl", "pwdLastSet", "accountExpires",
    "objectGUID", "objectSid", "mS-DS-ConsistencyGuid", "msExchRecipientTypeDetails",
    "msExchHideFromAddressLists", "thumbnailPhoto", "isCriticalSystemObject",
)  # fmt: skip
_CONTACT_ATTRS: Final = (
    "cn", "givenName", "sn", "displayName", "mail", "mailNickname", "proxyAddresses", "targetAddress",
    "company", "msExchRecipientTypeDetails", "msExchHideFromAddressLists", "objectGUID",
    "isCriticalSystemObject",
)  # fmt: skip
_GROUP_ATTRS: Final = (
    "cn", "sAMAccountName", "displayName", "description", "groupType", "mail", "mailNickname",
    "proxyAddresses", "managedBy", "member", "objectGUID", "objectSid", "msExchRecipientTypeDetails",
    "isCriticalSystemObject",
)  # fmt: skip
_COMPUTER_ATTRS: Final = (
    "cn", "sAMAccountName", "dNSHostName", "operatingSystem", "operatingSystemVersion",
    "userAccountControl", "userCertificate", "mS-DS-CreatorSID", "objectGUID", "objectSid",
)  # fmt: skip


@dataclass(frozen=True)
class Domain:
    index: int
    dns_name: str  # corp.example.com, d2.corp.example.com, ...
    dn: str  # DC=corp,DC=example,DC=com
    netbios: str
    sid_authorities: tuple[int, int, int]  # S-1-5-21-a-b-c
    mail_domain: str

    @property
    def sid(self) -> str:
        a, b, c = self.sid_authorities
        return f"S-1-5-21-{a}-{b}-{c}"


@dataclass(frozen=True)
class Forest:
    """A generated forest: its domains and one frame per object class (see the module docstring)."""

    seed: int
    domains: tuple[Domain, ...]
    organizational_units: pl.DataFrame
    users: pl.DataFrame
    inet_org_persons: pl.DataFrame
    contacts: pl.DataFrame
    groups: pl.DataFrame
    computers: pl.DataFrame

    def frames(self) -> dict[str, pl.DataFrame]:
        """Frames by object class, in an order where parents and referenced objects come first."""
        return {
            "organizationalUnit": self.organizational_units,
            "user": self.users,
            "inetOrgPerson": self.inet_org_persons,
            "contact": self.contacts,
            "computer": self.computers,
            "group": self.groups,
        }

    @property
    def object_count(self) -> int:
        return sum(f.height for f in self.frames().values())


# --------------------------------------------------------------------------------------------------
# Deterministic randomness, column-wise


class _Random:
    """Independent deterministic streams, one per purpose, so adding a column never shifts the others."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def bytes(self, purpose: str, n: int) -> bytes:
        return random.Random(f"forestsync/{self.seed}/{purpose}").randbytes(n)

    def u32(self, purpose: str, n: int) -> pl.Series:
        buf = self.bytes(purpose, 4 * n)
        return pl.Series(purpose, pa.Array.from_buffers(pa.uint32(), n, [None, pa.py_buffer(buf)])).cast(
            pl.Int64
        )

    def below(self, purpose: str, n: int, k: int) -> pl.Series:
        """Uniform integers in [0, k)."""
        return self.u32(purpose, n) % max(k, 1)

    def unit(self, purpose: str, n: int) -> pl.Series:
        """Uniform floats in [0, 1)."""
        return self.u32(purpose, n).cast(pl.Float64) / 4_294_967_296.0

    def chance(self, purpose: str, n: int, p: float) -> pl.Series:
        return self.unit(purpose, n) < p

    def blobs(self, purpose: str, n: int, width: int) -> pl.Series:
        buf = self.bytes(purpose, width * n)
        arr = pa.Array.from_buffers(pa.binary(width), n, [None, pa.py_buffer(buf)]).cast(pa.binary())
        return pl.Series(purpose, arr)


def _sid_bytes(authorities: tuple[int, int, int], rid: int) -> bytes:
    return struct.pack("<BB6sIIIII", 1, 5, b"\0\0\0\0\0\x05", 21, *authorities, rid)


_HEX_BYTES: Final = pl.Series([f"{b:02x}" for b in range(256)], dtype=pl.String)


def _sids(domains: Sequence[Domain], domain_index: pl.Series, rids: pl.Series) -> pl.Series:
    """Binary objectSid values as AD stores them: revision, count, big-endian authority, LE sub-authorities.

    Built as hex text (domain prefix by gather, the RID's four little-endian bytes by table lookup) and
    decoded in one pass, because Polars has no binary concatenation.
    """
    heads = pl.Series([_sid_bytes(d.sid_authorities, 0)[:24].hex() for d in domains], dtype=pl.String)
    r = rids.cast(pl.Int64)
    parts = [heads.gather(domain_index)] + [_HEX_BYTES.gather((r // (1 << (8 * k))) % 256) for k in range(4)]
    frame = pl.DataFrame({f"p{i}": p for i, p in enumerate(parts)})
    return frame.select(pl.concat_str(frame.columns).str.decode("hex").alias("objectSid")).to_series()


def _escape_rdn(expr: pl.Expr) -> pl.Expr:
    """RFC 4514 escaping of an RDN value (the generator never produces leading '#' or spaces)."""
    return expr.str.replace_all(r'([,+"\\<>;=])', r"\$1")


def _escape_rdn_text(value: str) -> str:
    out = []
    for ch in value:
        if ch in ',+"\\<>;=':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\0A")
        else:
            out.append(ch)
    return "".join(out)


def _guid_text(raw: bytes) -> str:
    """The registry-format text of a GUID stored in .NET byte order."""
    a, b, c = struct.unpack("<IHH", raw[:8])
    return f"{a:08x}-{b:04x}-{c:04x}-{raw[8:10].hex()}-{raw[10:].hex()}"


# --------------------------------------------------------------------------------------------------
# The generator


def make_domains(count: int, seed: int) -> tuple[Domain, ...]:
    rnd = _Random(seed)
    out = []
    for i in range(max(count, 1)):
        dns = ROOT_DOMAIN if i == 0 else f"d{i + 1}.{ROOT_DOMAIN}"
        auth = rnd.u32(f"domain-sid/{i}", 3).to_list()
        out.append(
            Domain(
                index=i,
                dns_name=dns,
                dn=",".join(f"DC={p}" for p in dns.split(".")),
                netbios="CORP" if i == 0 else f"D{i + 1}",
                sid_authorities=(int(auth[0]), int(auth[1]), int(auth[2])),
                mail_domain="example.com" if i == 0 else f"d{i + 1}.example.com",
            )
        )
    return tuple(out)


def _typed(frame: pl.DataFrame, kind: str, attrs: Sequence[str]) -> pl.DataFrame:
    """Fixed column order and the attribute-type dtypes; missing columns become typed nulls."""
    cols: list[pl.Expr] = [
        pl.col("dn").cast(pl.String),
        pl.lit(OBJECT_CLASSES[kind], dtype=pl.List(pl.String)).alias("objectClass"),
    ]
    for a in attrs:
        dtype = attribute_type(a).dtype
        cols.append(pl.col(a).cast(dtype) if a in frame.columns else pl.lit(None, dtype=dtype).alias(a))
    return frame.select(cols)


def _specials_frame(rows: list[dict[str, Any]], kind: str, attrs: Sequence[str]) -> pl.DataFrame:
    schema: dict[str, pl.DataType] = {"dn": pl.String()}
    schema.update({a: attribute_type(a).dtype for a in attrs})
    frame = pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)
    return _typed(frame, kind, attrs)


def _pick(values: Sequence[str], idx: pl.Series) -> pl.Series:
    return pl.Series(values, dtype=pl.String).gather(idx)


def _per_domain(domains: Sequence[Domain], d: pl.Series, attr: str) -> pl.Series:
    return _pick([str(getattr(x, attr)) for x in domains], d)


def generate_forest(
    users: int,
    groups: int,
    domains: int = 1,
    seed: int = 0,
    *,
    contacts: int | None = None,
    computers: int | None = None,
    inet_org_person_share: float = 0.05,
) -> Forest:
    """Generate a forest with ``users`` user accounts (``inetOrgPerson`` included) and ``groups`` groups.

    ``contacts`` defaults to users // 20 and ``computers`` to users // 4. Each domain also gets its
    critical system objects (Administrator, Guest, krbtgt, Domain Admins/Users/Guests) and the root
    domain the objects Azure AD Connect filters out: MSOL_/AAD_ service accounts, SystemMailbox{...} and
    discovery mailboxes, a role group, an (MSOL) contact and replication-conflict (CNF) objects.
    """
    if users < 0 or groups < 0:
        raise ValueError("users and groups must not be negative")
    doms = make_domains(domains, seed)
    n_dom = len(doms)
    rnd = _Random(seed)
    n_contacts = users // 20 if contacts is None else contacts
    n_computers = users // 4 if computers is None else computers
    per_domain_users = -(-users // n_dom) if users else 0
    per_domain_groups = -(-groups // n_dom) if groups else 0
    group_rid_base = 1103 + per_domain_users
    computer_rid_base = group_rid_base + per_domain_groups

    ous = _organizational_units(doms, rnd)
    people = _people(users, doms, rnd, inet_org_person_share)
    contact_frame = _contacts(n_contacts, doms, rnd)
    computer_frame = _computers(n_computers, doms, rnd, people, computer_rid_base)
    group_frame = _groups(groups, doms, rnd, people, contact_frame, group_rid_base)

    inet = people.filter(pl.col("_inet_org"))
    plain = people.filter(~pl.col("_inet_org"))
    specials = _special_objects(doms, rnd, plain)
    user_frame = pl.concat([_typed(plain, "user", _USER_ATTRS), specials["user"]])
    return Forest(
        seed=seed,
        domains=doms,
        organizational_units=ous,
        users=user_frame,
        inet_org_persons=_typed(inet, "inetOrgPerson", _USER_ATTRS),
        contacts=pl.concat([_typed(contact_frame, "contact", _CONTACT_ATTRS), specials["contact"]]),
        groups=pl.concat([_typed(group_frame, "group", _GROUP_ATTRS), specials["group"]]),
        computers=_typed(computer_frame, "computer", _COMPUTER_ATTRS),
    )


def _organizational_units(doms: Sequence[Domain], rnd: _Random) -> pl.DataFrame:
    rows: list[dict[str, Any]] = []
    for d in doms:
        corp = f"OU=Corp,{d.dn}"
        rows.append({"dn": corp, "ou": "Corp", "description": [f"{d.netbios} managed objects"]})
        for name in ("Users", "Groups", "Contacts", "Computers"):
            rows.append({"dn": f"OU={name},{corp}", "ou": name, "description": None})
        for dept in DEPARTMENTS:
            rows.append({"dn": f"OU={dept},OU=Users,{corp}", "ou": dept, "description": [f"{dept} staff"]})
    frame = pl.DataFrame(
        rows, schema={"dn": pl.String, "ou": pl.String, "description": pl.List(pl.String)}, orient="row"
    ).with_columns(rnd.blobs("ou/guid", len(rows), 16).alias("objectGUID"))
    return _typed(frame, "organizationalUnit", _OU_ATTRS)


def _people(n: int, doms: Sequence[Domain], rnd: _Random, inet_org_person_share: float) -> pl.DataFrame:
    """Regular users and inetOrgPersons, in generation order, with helper columns ``_i``, ``_d``, ``_k``."""
    n_dom = len(doms)
    i = pl.int_range(0, n, eager=True, dtype=pl.Int64).alias("_i")
    d = i % n_dom
    k = i // n_dom
    g_idx = rnd.below("user/given", n, len(GIVEN_NAMES))
    s_idx = rnd.below("user/sn", n, len(SURNAMES))
    dept = _pick(DEPARTMENTS, rnd.below("user/dept", n, len(DEPARTMENTS)))
    rtd_roll = rnd.below("user/rtd", n, 1000)
    mgr_has = rnd.chance("user/has-manager", n, 0.95)
    frame = pl.DataFrame(
        {
            "_i": i,
            "_d": d,
            "_k": k,
            "givenName": _pick([g for g, _ in GIVEN_NAMES], g_idx),
            "_given_ascii": _pick([a for _, a in GIVEN_NAMES], g_idx),
            "sn": _pick([s for s, _ in SURNAMES], s_idx),
            "_sn_ascii": _pick([a for _, a in SURNAMES], s_idx),
            "department": dept,
            "title": _pick(TITLES, rnd.below("user/title", n, len(TITLES))),
            "_title_missing": rnd.chance("user/title-missing", n, 0.05),
            "_dns": _per_domain(doms, d, "dns_name"),
            "_domain_dn": _per_domain(doms, d, "dn"),
            "_mail_domain": _per_domain(doms, d, "mail_domain"),
            "_rtd_roll": rtd_roll,
            "_upn_missing": rnd.chance("user/upn-missing", n, 0.02),
            "_disabled": rnd.chance("user/disabled", n, 0.08),
            "_no_expire": rnd.chance("user/no-expire", n, 0.3),
            "_pwd_age": rnd.below("user/pwd-age", n, 400 * 86_400),
            "_pwd_zero": rnd.chance("user/pwd-zero", n, 0.03),
            "_has_cguid": rnd.chance("user/consistency-guid", n, 0.3),
            "_has_onms": rnd.chance("user/onmicrosoft", n, 0.5),
            "_has_sip": rnd.chance("user/sip", n, 0.1),
            "_has_x500": rnd.chance("user/x500", n, 0.05),
            "_has_phone": rnd.chance("user/phone", n, 0.6),
            "_phone": rnd.below("user/phone-number", n, 10_000),
            "_has_other_phone": rnd.chance("user/other-phone", n, 0.05),
            "_has_photo": rnd.chance("user/photo", n, 0.01),
            "_has_employee_id": rnd.chance("user/employee-id", n, 0.8),
            "_inet_org": rnd.chance("user/inet-org-person", n, inet_org_person_share),
            "_mgr_has": mgr_has,
            "objectGUID": rnd.blobs("user/guid", n, 16),
            "_photo": rnd.blobs("user/photo-bytes", n, 48),
        }
    )
    frame = frame.with_columns(
        sAMAccountName=(
            pl.col("_given_ascii").str.slice(0, 1) + pl.col("_sn_ascii").str.slice(0, 11)
        ).str.to_lowercase()
        + pl.col("_k").cast(pl.String),
        cn=pl.col("sn") + pl.lit(", ") + pl.col("givenName") + pl.lit(" ") + pl.col("_k").cast(pl.String),
        displayName=pl.col("givenName") + pl.lit(" ") + pl.col("sn"),
    )
    frame = frame.with_columns(
        dn=pl.lit("CN=")
        + _escape_rdn(pl.col("cn"))
        + pl.lit(",OU=")
        + pl.col("department")
        + pl.lit(",OU=Users,OU=Corp,")
        + pl.col("_domain_dn"),
        userPrincipalName=pl.when(~pl.col("_upn_missing")).then(
            pl.col("sAMAccountName") + pl.lit("@") + pl.col("_dns")
        ),
        msExchRecipientTypeDetails=pl.when(pl.col("_rtd_roll") < 700)
        .then(pl.lit(RTD_USER_MAILBOX, dtype=pl.Int64))
        .when(pl.col("_rtd_roll") < 880)
        .then(pl.lit(RTD_REMOTE_USER_MAILBOX, dtype=pl.Int64))
        .when(pl.col("_rtd_roll") < 885)
        .then(pl.lit(RTD_LINKED_MAILBOX, dtype=pl.Int64)),
        title=pl.when(~pl.col("_title_missing")).then(pl.col("title")),
        userAccountControl=pl.lit(UF_NORMAL_ACCOUNT, dtype=pl.Int64)
        + pl.when(pl.col("_disabled")).then(UF_ACCOUNTDISABLE).otherwise(0)
        + pl.when(pl.col("_no_expire")).then(UF_DONT_EXPIRE_PASSWD).otherwise(0),
        pwdLastSet=pl.when(pl.col("_pwd_zero"))
        .then(pl.lit(0, dtype=pl.Int64))
        .otherwise(pl.lit(_NOW_FILETIME, dtype=pl.Int64) - pl.col("_pwd_age") * 10_000_000),
        accountExpires=pl.lit(NEVER_EXPIRES, dtype=pl.Int64),
        **{"mS-DS-ConsistencyGuid": pl.when(pl.col("_has_cguid")).then(pl.col("objectGUID"))},
        employeeID=pl.when(pl.col("_has_employee_id")).then(
            pl.lit("E") + pl.col("_i").cast(pl.String).str.zfill(8)
        ),
        telephoneNumber=pl.when(pl.col("_has_phone")).then(
            pl.lit("+1 425 555 ") + pl.col("_phone").cast(pl.String).str.zfill(4)
        ),
        otherTelephone=pl.when(pl.col("_has_other_phone")).then(
            pl.concat_list(
                pl.lit("+1 206 555 ") + pl.col("_phone").cast(pl.String).str.zfill(4),
                pl.lit("+44 20 7946 ") + pl.col("_phone").cast(pl.String).str.zfill(4),
            )
        ),
        thumbnailPhoto=pl.when(pl.col("_has_photo")).then(pl.col("_photo")),
        objectSid=_sids(doms, frame["_d"], frame["_k"] + 1103),
    )
    mail_enabled = pl.col("msExchRecipientTypeDetails").is_not_null()
    local = (
        pl.col("_given_ascii").str.to_lowercase()
        + pl.lit(".")
        + pl.col("_sn_ascii").str.to_lowercase()
        + pl.col("_k").cast(pl.String)
    )
    frame = frame.with_columns(
        mail=pl.when(mail_enabled).then(local + pl.lit("@") + pl.col("_mail_domain")),
        mailNickname=pl.when(mail_enabled).then(pl.col("sAMAccountName")),
    )
    guid_hex = pl.col("objectGUID").bin.encode("hex")
    frame = frame.with_columns(
        proxyAddresses=pl.when(mail_enabled).then(
            pl.concat_list(
                pl.lit("SMTP:") + pl.col("mail"),
                pl.when(pl.col("_has_onms")).then(
                    pl.lit("smtp:") + pl.col("sAMAccountName") + pl.lit("@" + TENANT_ROUTING_DOMAIN)
                ),
                pl.when(pl.col("_has_sip")).then(pl.lit("SIP:") + pl.col("mail")),
                pl.when(pl.col("_has_x500")).then(
                    pl.lit(
                        "X500:/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn="
                    )
                    + guid_hex
                    + pl.lit("-")
                    + pl.col("sAMAccountName")
                ),
            ).list.drop_nulls()
        ),
    )
    # Managers: a tree per domain, each user reporting to the user at (k - 1) // 8 of the same domain.
    mgr_k = (pl.col("_k") - 1) // 8
    mgr_i = mgr_k * n_dom + pl.col("_d")
    frame = frame.with_columns(
        _mgr_i=pl.when(pl.col("_mgr_has") & (pl.col("_k") > 0)).then(mgr_i),
    )
    dns = frame["dn"]
    frame = frame.with_columns(manager=dns.gather(frame["_mgr_i"]))
    return frame


def _contacts(n: int, doms: Sequence[Domain], rnd: _Random) -> pl.DataFrame:
    n_dom = len(doms)
    i = pl.int_range(0, n, eager=True, dtype=pl.Int64)
    d = i % n_dom
    g_idx = rnd.below("contact/given", n, len(GIVEN_NAMES))
    s_idx = rnd.below("contact/sn", n, len(SURNAMES))
    partners = ("fabrikam.com", "tailspintoys.com", "wingtiptoys.com", "adventure-works.com")
    frame = pl.DataFrame(
        {
            "_i": i,
            "_d": d,
            "_k": i // n_dom,
            "givenName": _pick([g for g, _ in GIVEN_NAMES], g_idx),
            "_given_ascii": _pick([a for _, a in GIVEN_NAMES], g_idx),
            "sn": _pick([s for s, _ in SURNAMES], s_idx),
            "_sn_ascii": _pick([a for _, a in SURNAMES], s_idx),
            "company": _pick(partners, rnd.below("contact/partner", n, len(partners))),
            "_domain_dn": _per_domain(doms, d, "dn"),
            "_mail": rnd.chance("contact/mail", n, 0.95),
            "objectGUID": rnd.blobs("contact/guid", n, 16),
        }
    )
    email = (
        pl.col("_given_ascii").str.to_lowercase()
        + pl.lit(".")
        + pl.col("_sn_ascii").str.to_lowercase()
        + pl.col("_i").cast(pl.String)
        + pl.lit("@")
        + pl.col("company")
    )
    frame = frame.with_columns(
        cn=pl.col("givenName")
        + pl.lit(" ")
        + pl.col("sn")
        + pl.lit(" (ext ")
        + pl.col("_k").cast(pl.String)
        + ")",
        displayName=pl.col("givenName") + pl.lit(" ") + pl.col("sn") + pl.lit(" (") + pl.col("company") + ")",
        mail=pl.when(pl.col("_mail")).then(email),
        mailNickname=pl.when(pl.col("_mail")).then(pl.lit("ext-") + pl.col("_i").cast(pl.String)),
        msExchRecipientTypeDetails=pl.when(pl.col("_mail")).then(pl.lit(RTD_MAIL_CONTACT, dtype=pl.Int64)),
    )
    return frame.with_columns(
        dn=pl.lit("CN=") + _escape_rdn(pl.col("cn")) + pl.lit(",OU=Contacts,OU=Corp,") + pl.col("_domain_dn"),
        targetAddress=pl.when(pl.col("_mail")).then(pl.lit("SMTP:") + pl.col("mail")),
        proxyAddresses=pl.when(pl.col("_mail")).then(pl.concat_list(pl.lit("SMTP:") + pl.col("mail"))),
    )


def _computers(
    n: int, doms: Sequence[Domain], rnd: _Random, people: pl.DataFrame, rid_base: int
) -> pl.DataFrame:
    n_dom = len(doms)
    i = pl.int_range(0, n, eager=True, dtype=pl.Int64)
    d = i % n_dom
    k = i // n_dom
    os_idx = rnd.below("computer/os", n, len(OPERATING_SYSTEMS))
    n_people = people.height
    frame = pl.DataFrame(
        {
            "_i": i,
            "_d": d,
            "_k": k,
            "_dns": _per_domain(doms, d, "dns_name"),
            "_domain_dn": _per_domain(doms, d, "dn"),
            "operatingSystem": _pick([o for o, _ in OPERATING_SYSTEMS], os_idx),
            "operatingSystemVersion": _pick([v for _, v in OPERATING_SYSTEMS], os_idx),
            "_disabled": rnd.chance("computer/disabled", n, 0.05),
            "_cert": rnd.chance("computer/cert", n, 0.4),
            "_cert_bytes": rnd.blobs("computer/cert-bytes", n, 64),
            "_creator": rnd.chance("computer/creator", n, 0.2),
            "_creator_k": rnd.below("computer/creator-k", n, max(n_people // n_dom, 1)),
            "objectGUID": rnd.blobs("computer/guid", n, 16),
        }
    )
    frame = frame.with_columns(
        cn=pl.lit("WS") + pl.col("_k").cast(pl.String).str.zfill(6),
        userAccountControl=pl.lit(UF_WORKSTATION_TRUST_ACCOUNT, dtype=pl.Int64)
        + pl.when(pl.col("_disabled")).then(UF_ACCOUNTDISABLE).otherwise(0),
        # Random bytes stand in for a DER certificate: sync only looks at presence (device filter).
        userCertificate=pl.when(pl.col("_cert")).then(pl.concat_list(pl.col("_cert_bytes"))),
        objectSid=_sids(doms, d, k + rid_base),
    )
    if n_people:
        creator_i = (frame["_creator_k"] * n_dom + frame["_d"]).clip(upper_bound=n_people - 1)
        frame = frame.with_columns(
            pl.when(pl.col("_creator")).then(people["objectSid"].gather(creator_i)).alias("mS-DS-CreatorSID")
        )
    return frame.with_columns(
        sAMAccountName=pl.col("cn") + pl.lit("$"),
        dNSHostName=pl.col("cn").str.to_lowercase() + pl.lit(".") + pl.col("_dns"),
        dn=pl.lit("CN=") + pl.col("cn") + pl.lit(",OU=Computers,OU=Corp,") + pl.col("_domain_dn"),
    )


def _groups(
    n: int,
    doms: Sequence[Domain],
    rnd: _Random,
    people: pl.DataFrame,
    contacts: pl.DataFrame,
    rid_base: int,
) -> pl.DataFrame:
    n_dom = len(doms)
    g = pl.int_range(0, n, eager=True, dtype=pl.Int64)
    d = g % n_dom
    kind = rnd.below("group/kind", n, 10)
    frame = pl.DataFrame(
        {
            "_g": g,
            "_d": d,
            "_k": g // n_dom,
            "_kind": kind,
            "_dept": _pick(DEPARTMENTS, rnd.below("group/dept", n, len(DEPARTMENTS))),
            "_purpose": _pick(GROUP_PURPOSES, rnd.below("group/purpose", n, len(GROUP_PURPOSES))),
            "_domain_dn": _per_domain(doms, d, "dn"),
            "_mail_domain": _per_domain(doms, d, "mail_domain"),
            "_has_desc": rnd.chance("group/description", n, 0.5),
            "_managed": rnd.chance("group/managed", n, 0.3),
            "_manager_k": rnd.below("group/manager-k", n, max(people.height // n_dom, 1)),
            "objectGUID": rnd.blobs("group/guid", n, 16),
        }
    )
    group_type = (
        pl.when(pl.col("_kind") < 6)
        .then(GROUP_GLOBAL_SECURITY)
        .when(pl.col("_kind") == 6)
        .then(GROUP_UNIVERSAL_SECURITY)
        .when(pl.col("_kind") == 7)
        .then(GROUP_DOMAIN_LOCAL_SECURITY)
        .when(pl.col("_kind") == 8)
        .then(GROUP_GLOBAL_DISTRIBUTION)
        .otherwise(GROUP_UNIVERSAL_DISTRIBUTION)
    )
    frame = frame.with_columns(
        cn=pl.col("_dept") + pl.lit(" ") + pl.col("_purpose") + pl.lit(" ") + pl.col("_k").cast(pl.String),
        groupType=group_type.cast(pl.Int64),
    )
    mail_enabled = pl.col("_kind").is_in([6, 8, 9])
    frame = frame.with_columns(
        sAMAccountName=pl.col("cn").str.to_lowercase().str.replace_all(" ", "-", literal=True),
        displayName=pl.col("cn"),
        description=pl.when(pl.col("_has_desc")).then(
            pl.concat_list(
                pl.lit("Members of ") + pl.col("_dept") + pl.lit(" ") + pl.col("_purpose").str.to_lowercase()
            )
        ),
        dn=pl.lit("CN=") + pl.col("cn") + pl.lit(",OU=Groups,OU=Corp,") + pl.col("_domain_dn"),
        objectSid=_sids(doms, d, frame["_k"] + rid_base),
        msExchRecipientTypeDetails=pl.when(pl.col("_kind") == 6)
        .then(pl.lit(RTD_MAIL_UNIVERSAL_SECURITY_GROUP, dtype=pl.Int64))
        .when(pl.col("_kind").is_in([8, 9]))
        .then(pl.lit(RTD_MAIL_UNIVERSAL_DISTRIBUTION_GROUP, dtype=pl.Int64)),
    )
    frame = frame.with_columns(
        mail=pl.when(mail_enabled).then(pl.col("sAMAccountName") + pl.lit("@") + pl.col("_mail_domain")),
        mailNickname=pl.when(mail_enabled).then(pl.col("sAMAccountName")),
    ).with_columns(
        proxyAddresses=pl.when(mail_enabled).then(pl.concat_list(pl.lit("SMTP:") + pl.col("mail"))),
    )
    if people.height:
        mgr_i = (frame["_manager_k"] * n_dom + frame["_d"]).clip(upper_bound=people.height - 1)
        frame = frame.with_columns(managedBy=pl.when(pl.col("_managed")).then(people["dn"].gather(mgr_i)))
    members = _memberships(frame, doms, rnd, people, contacts)
    return frame.join(members, on="_g", how="left", maintain_order="left")


def _memberships(
    groups: pl.DataFrame,
    doms: Sequence[Domain],
    rnd: _Random,
    people: pl.DataFrame,
    contacts: pl.DataFrame,
) -> pl.DataFrame:
    """Member lists by group index ``_g``: random users (skewed toward the first groups of a domain),
    a few large groups (> 1,500 members, so range retrieval is exercised), nested groups (a group is only
    ever a member of a later group, so nesting has no cycles) and some contacts."""
    n_dom = len(doms)
    n_groups = groups.height
    if n_groups == 0:
        return pl.DataFrame(schema={"_g": pl.Int64, "member": pl.List(pl.String)})
    groups_in = pl.Series([(n_groups - x + n_dom - 1) // n_dom for x in range(n_dom)], dtype=pl.Int64)
    n_people = people.height
    edges: list[pl.DataFrame] = []

    # 0-4 memberships per user (mean 2), in groups of the user's own domain.
    counts = rnd.below("member/count", n_people, 5)
    u_edges = (
        people.select("_i", "_d", "_k")
        .with_columns(_n=counts)
        .filter(pl.col("_n") > 0)
        .with_columns(_j=pl.int_ranges(0, pl.col("_n")))
        .explode("_j")
    )
    f = rnd.unit("member/pick", u_edges.height)
    u_edges = u_edges.with_columns(_f=f, _gd=groups_in.gather(u_edges["_d"])).filter(pl.col("_gd") > 0)
    u_edges = u_edges.select(
        _g=(pl.col("_f") * pl.col("_f") * pl.col("_gd")).cast(pl.Int64) * n_dom + pl.col("_d"),
        _rank=pl.lit(1, dtype=pl.Int64),
        _m=pl.col("_i"),
        _dn=people["dn"].gather(u_edges["_i"]),
    )
    edges.append(u_edges)

    # Large groups: the first (up to) three groups of each domain hold a fifth, a tenth, ... of its users.
    k_all = people["_k"]
    for dom in doms:
        for kg in range(min(3, int(groups_in[dom.index]))):
            size = min(-(-n_people // n_dom), max(1501, (n_people // n_dom) // (5 * 2**kg)))
            sel = people.filter((pl.col("_d") == dom.index) & (k_all < size))
            edges.append(
                sel.select(
                    _g=pl.lit(kg * n_dom + dom.index, dtype=pl.Int64),
                    _rank=pl.lit(0, dtype=pl.Int64),
                    _m=pl.col("_i"),
                    _dn=pl.col("dn"),
                )
            )

    # Nesting: 15% of groups are members of one later group of the same domain.
    gk = groups["_k"]
    gd_of = groups_in.gather(groups["_d"])
    nest = rnd.chance("member/nest", n_groups, 0.15) & (gk < gd_of - 1)
    span = (gd_of - gk - 1).clip(lower_bound=1)
    parent_k = gk + 1 + rnd.below("member/nest-parent", n_groups, 1 << 30) % span
    nested = groups.select("_g", "_d", "dn").with_columns(_pk=parent_k, _nest=nest).filter(pl.col("_nest"))
    edges.append(
        nested.select(
            _g=pl.col("_pk") * n_dom + pl.col("_d"),
            _rank=pl.lit(2, dtype=pl.Int64),
            _m=pl.col("_g"),
            _dn=pl.col("dn"),
        )
    )

    # 20% of contacts belong to one group of their domain.
    if contacts.height:
        c = contacts.select("_i", "_d", "dn").with_columns(
            _in=rnd.chance("member/contact", contacts.height, 0.2),
            _pick=rnd.below("member/contact-group", contacts.height, 1 << 30),
            _gd=groups_in.gather(contacts["_d"]),
        )
        c = c.filter(pl.col("_in") & (pl.col("_gd") > 0))
        edges.append(
            c.select(
                _g=(pl.col("_pick") % pl.col("_gd")) * n_dom + pl.col("_d"),
                _rank=pl.lit(3, dtype=pl.Int64),
                _m=pl.col("_i"),
                _dn=pl.col("dn"),
            )
        )
    all_edges = pl.concat(edges).unique(subset=["_g", "_rank", "_m"], keep="first").sort("_g", "_rank", "_m")
    return all_edges.group_by("_g", maintain_order=True).agg(pl.col("_dn").alias("member"))


def _special_objects(doms: Sequence[Domain], rnd: _Random, people: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Objects every real forest has and Azure AD Connect filters out (spec section 5.1)."""
    users: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    contacts: list[dict[str, Any]] = []
    stream = rnd.bytes("specials", 16 * 64 * max(len(doms), 1))
    pos = 0

    def guid() -> bytes:
        nonlocal pos
        pos += 16
        return stream[pos - 16 : pos]

    def user(dom: Domain, cn: str, sam: str, rid: int, **attrs: Any) -> dict[str, Any]:
        row: dict[str, Any] = {
            "dn": f"CN={_escape_rdn_text(cn)},CN=Users,{dom.dn}",
            "cn": cn,
            "sAMAccountName": sam,
            "displayName": cn,
            "userAccountControl": UF_NORMAL_ACCOUNT,
            "pwdLastSet": _NOW_FILETIME - 30 * _DAY_FILETIME,
            "accountExpires": NEVER_EXPIRES,
            "objectGUID": guid(),
            "objectSid": _sid_bytes(dom.sid_authorities, rid),
        }
        row.update(attrs)
        return row

    for dom in doms:
        users.append(user(dom, "Administrator", "Administrator", 500, isCriticalSystemObject=True,
                          description=["Built-in account for administering the computer/domain"]))  # fmt: skip
        users.append(user(dom, "Guest", "Guest", 501, isCriticalSystemObject=True,
                          userAccountControl=UF_NORMAL_ACCOUNT | UF_ACCOUNTDISABLE | UF_DONT_EXPIRE_PASSWD))  # fmt: skip
        users.append(user(dom, "krbtgt", "krbtgt", 502, isCriticalSystemObject=True,
                          userAccountControl=UF_NORMAL_ACCOUNT | UF_ACCOUNTDISABLE,
                          description=["Key Distribution Center Service Account"]))  # fmt: skip
        admin_dn = f"CN=Administrator,CN=Users,{dom.dn}"
        for rid, name, members in ((512, "Domain Admins", [admin_dn]), (513, "Domain Users", None),
                                   (514, "Domain Guests", [f"CN=Guest,CN=Users,{dom.dn}"])):  # fmt: skip
            groups.append({
                "dn": f"CN={name},CN=Users,{dom.dn}", "cn": name, "sAMAccountName": name,
                "groupType": GROUP_GLOBAL_SECURITY, "isCriticalSystemObject": True, "member": members,
                "objectGUID": guid(), "objectSid": _sid_bytes(dom.sid_authorities, rid),
            })  # fmt: skip

    root = doms[0]
    hexid = stream[-16:].hex()
    users.append(user(root, f"MSOL_{hexid[:12]}", f"MSOL_{hexid[:12]}", 1001,
                      description=["Account created by Microsoft Azure Active Directory Connect with installation "
                                   f"identifier {hexid} running on computer AADC01"],
                      userAccountControl=UF_NORMAL_ACCOUNT | UF_DONT_EXPIRE_PASSWD))  # fmt: skip
    users.append(user(root, f"AAD_{hexid[12:24]}", f"AAD_{hexid[12:24]}", 1002,
                      description=["Service account for the Azure AD Connect sync engine"]))  # fmt: skip
    mbx = _guid_text(guid())
    users.append(user(root, f"SystemMailbox{{{mbx}}}", f"SM_{hexid[:17]}", 1003,
                      userAccountControl=UF_NORMAL_ACCOUNT | UF_ACCOUNTDISABLE,
                      mailNickname=f"SystemMailbox{{{mbx}}}",
                      userPrincipalName=f"SystemMailbox{{{mbx}}}@{root.dns_name}",
                      mail=f"SystemMailbox{{{mbx}}}@{root.mail_domain}",
                      proxyAddresses=[f"SMTP:SystemMailbox{{{mbx}}}@{root.mail_domain}"],
                      msExchRecipientTypeDetails=RTD_ARBITRATION_MAILBOX, msExchHideFromAddressLists=True))  # fmt: skip
    disc = "DiscoverySearchMailbox{D919BA05-46A6-415f-80AD-7E09334BB852}"
    users.append(user(root, disc, f"SM_{hexid[17:32]}", 1004,
                      userAccountControl=UF_NORMAL_ACCOUNT | UF_ACCOUNTDISABLE, mailNickname=disc,
                      mail=f"{disc}@{root.mail_domain}", proxyAddresses=[f"SMTP:{disc}@{root.mail_domain}"],
                      msExchRecipientTypeDetails=RTD_DISCOVERY_MAILBOX, msExchHideFromAddressLists=True))  # fmt: skip
    # Replication conflicts: the RDN value carries a line feed and "CNF:<guid>"; the DN escapes it as \0A.
    for p in range(min(2, people.height)):
        src = people.row(p, named=True)
        cnf_guid = guid()
        cn = f"{src['cn']}\nCNF:{_guid_text(cnf_guid)}"
        dom = doms[src["_d"]]
        parent = f"OU={src['department']},OU=Users,OU=Corp,{dom.dn}"
        users.append({
            "dn": f"CN={_escape_rdn_text(cn)},{parent}", "cn": cn, "sAMAccountName": f"$DUPLICATE-{1005 + p:x}",
            "givenName": src["givenName"], "sn": src["sn"], "displayName": src["displayName"],
            "department": src["department"], "userAccountControl": UF_NORMAL_ACCOUNT,
            "pwdLastSet": _NOW_FILETIME, "accountExpires": NEVER_EXPIRES, "objectGUID": cnf_guid,
            "objectSid": _sid_bytes(dom.sid_authorities, 1005 + p),
        })  # fmt: skip
    role = "Organization Management"
    groups.append({
        "dn": f"CN={role},OU=Groups,OU=Corp,{root.dn}", "cn": role, "sAMAccountName": role,
        "groupType": GROUP_UNIVERSAL_SECURITY, "msExchRecipientTypeDetails": RTD_ROLE_GROUP,
        "member": [f"CN=Administrator,CN=Users,{root.dn}"], "objectGUID": guid(),
        "objectSid": _sid_bytes(root.sid_authorities, 1010),
    })  # fmt: skip
    cnf_group = f"Sales Team 0\nCNF:{_guid_text(stream[:16])}"
    groups.append({
        "dn": f"CN={_escape_rdn_text(cnf_group)},OU=Groups,OU=Corp,{root.dn}", "cn": cnf_group,
        "sAMAccountName": f"$DUPLICATE-{1011:x}", "groupType": GROUP_GLOBAL_SECURITY, "objectGUID": guid(),
        "objectSid": _sid_bytes(root.sid_authorities, 1011),
    })  # fmt: skip
    contacts.append({
        "dn": f"CN=Sync Contact (MSOL),OU=Contacts,OU=Corp,{root.dn}", "cn": "Sync Contact (MSOL)",
        "displayName": "Sync Contact (MSOL)", "msExchHideFromAddressLists": True,
        "mail": "sync-contact@" + TENANT_ROUTING_DOMAIN, "objectGUID": guid(),
    })  # fmt: skip
    return {
        "user": _specials_frame(users, "user", _USER_ATTRS),
        "group": _specials_frame(groups, "group", _GROUP_ATTRS),
        "contact": _specials_frame(contacts, "contact", _CONTACT_ATTRS),
    }
