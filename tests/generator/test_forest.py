"""The synthetic forest: deterministic, realistic, and with the objects Azure AD Connect filters out."""

from __future__ import annotations

import struct

import polars as pl
import pytest

from emulator.forest import Forest, generate_forest
from emulator.ldif import to_ldif
from flows.connectors.attribute_types import attribute_type


@pytest.fixture(scope="module")
def forest() -> Forest:
    return generate_forest(users=4000, groups=120, domains=2, seed=11)


def sid_text(raw: bytes) -> str:
    revision, count = raw[0], raw[1]
    authority = int.from_bytes(raw[2:8], "big")
    subs = struct.unpack(f"<{count}I", raw[8 : 8 + 4 * count])
    return "-".join(["S", str(revision), str(authority), *map(str, subs)])


def all_people(forest: Forest) -> pl.DataFrame:
    return pl.concat([forest.users, forest.inet_org_persons])


def test_same_seed_gives_byte_identical_ldif() -> None:
    a = to_ldif(generate_forest(300, 20, 2, seed=5))
    b = to_ldif(generate_forest(300, 20, 2, seed=5))
    c = to_ldif(generate_forest(300, 20, 2, seed=6))
    assert a == b
    assert a != c


def test_counts_follow_the_parameters(forest: Forest) -> None:
    in_users_ou = pl.col("dn").str.contains(",OU=Users,OU=Corp,")
    regular = all_people(forest).filter(in_users_ou & ~pl.col("dn").str.contains(r"\0ACNF:", literal=True))
    assert regular.height == 4000
    assert forest.inet_org_persons.height > 0
    assert forest.groups.filter(pl.col("dn").str.contains(",OU=Groups,OU=Corp,")).height >= 120
    assert forest.contacts.height >= 4000 // 20
    assert forest.computers.height == 4000 // 4
    assert [d.dns_name for d in forest.domains] == ["corp.example.com", "d2.corp.example.com"]
    for domain in forest.domains:
        in_domain = regular.filter(pl.col("dn").str.ends_with(",OU=Corp," + domain.dn))
        assert in_domain.height == 2000


def test_frames_use_the_attribute_type_dtypes(forest: Forest) -> None:
    for kind, frame in forest.frames().items():
        assert frame.columns[:2] == ["dn", "objectClass"], kind
        assert frame.schema["objectClass"] == pl.List(pl.String)
        for name, dtype in frame.schema.items():
            if name not in ("dn", "objectClass"):
                assert dtype == attribute_type(name).dtype, (kind, name)
        assert frame["objectClass"].list.last().unique().to_list() == [kind]


def test_identifiers_are_unique(forest: Forest) -> None:
    frames = list(forest.frames().values())
    guids = pl.concat([f.select("objectGUID") for f in frames])["objectGUID"]
    assert guids.null_count() == 0
    assert guids.bin.size().unique().to_list() == [16]
    assert guids.n_unique() == guids.len()
    dns = pl.concat([f.select("dn") for f in frames])["dn"].str.to_lowercase()
    assert dns.n_unique() == dns.len()
    people = all_people(forest).with_columns(domain=pl.col("dn").str.extract(r"(DC=.*)$"))
    assert people.select("domain", "sAMAccountName").is_unique().all()
    upns = people["userPrincipalName"].drop_nulls()
    assert upns.n_unique() == upns.len()


def test_object_sids_are_domain_sids_with_unique_rids(forest: Forest) -> None:
    frames = [all_people(forest), forest.groups, forest.computers]
    sids = pl.concat([f.select("objectSid") for f in frames])["objectSid"].to_list()
    texts = [sid_text(s) for s in sids]
    domain_sids = {d.sid for d in forest.domains}
    assert {t.rsplit("-", 1)[0] for t in texts} == domain_sids
    assert len(set(texts)) == len(texts)
    admin = forest.users.filter(pl.col("sAMAccountName") == "Administrator")["objectSid"].to_list()
    assert sorted(sid_text(s) for s in admin) == sorted(f"{d.sid}-500" for d in forest.domains)


def test_realistic_variety_of_user_attributes(forest: Forest) -> None:
    people = all_people(forest).filter(pl.col("isCriticalSystemObject").is_null())
    missing_upn = people["userPrincipalName"].null_count()
    assert 0 < missing_upn < people.height * 0.1
    disabled = people.filter((pl.col("userAccountControl") & 2) == 2).height
    assert 0 < disabled < people.height * 0.2
    with_cguid = people.filter(pl.col("mS-DS-ConsistencyGuid").is_not_null())
    assert 0 < with_cguid.height < people.height
    assert (with_cguid["mS-DS-ConsistencyGuid"] == with_cguid["objectGUID"]).all()
    assert people["pwdLastSet"].min() == 0
    assert people["pwdLastSet"].max() > 130_000_000_000_000_000
    assert {1, 2147483648}.issubset(set(people["msExchRecipientTypeDetails"].drop_nulls().to_list()))
    assert people["thumbnailPhoto"].drop_nulls().len() > 0
    assert people["otherTelephone"].drop_nulls().list.len().min() == 2


def test_mail_enabled_users_have_one_primary_smtp_address(forest: Forest) -> None:
    people = all_people(forest).filter(pl.col("mail").is_not_null())
    proxies = people["proxyAddresses"]
    primaries = proxies.list.eval(pl.element().str.starts_with("SMTP:").cast(pl.Int32)).list.sum()
    assert (primaries == 1).all()
    assert (proxies.list.first() == ("SMTP:" + people["mail"])).all()
    flat = proxies.explode()
    assert flat.str.starts_with("smtp:").any()
    assert flat.str.starts_with("SIP:").any()
    assert flat.str.starts_with("X500:").any()
    unmailed = all_people(forest).filter(
        pl.col("mail").is_null() & pl.col("isCriticalSystemObject").is_null()
    )
    assert unmailed["proxyAddresses"].null_count() == unmailed.height


def test_managers_are_existing_users_of_the_same_domain(forest: Forest) -> None:
    people = all_people(forest)
    managed = people.filter(pl.col("manager").is_not_null())
    assert managed.height > people.height * 0.8
    assert managed["manager"].is_in(people["dn"].implode()).all()
    same_domain = managed.select(
        pl.col("dn").str.extract(r"(DC=.*)$") == pl.col("manager").str.extract(r"(DC=.*)$")
    )
    assert same_domain.to_series().all()


def test_groups_security_distribution_nested_and_large(forest: Forest) -> None:
    groups = forest.groups
    types = set(groups["groupType"].to_list())
    assert {-2147483646, 2}.issubset(types)
    sizes = groups["member"].list.len().fill_null(0)
    assert sizes.max() > 1500
    group_dns = groups["dn"].implode()
    nested = groups.filter(pl.col("member").list.eval(pl.element().is_in(group_dns)).list.any())
    assert nested.height > 0
    distribution_mail = groups.filter(pl.col("groupType") == 8)
    assert distribution_mail["mail"].null_count() == 0
    people_and_groups = pl.concat([all_people(forest)["dn"], groups["dn"], forest.contacts["dn"]]).implode()
    assert groups["member"].explode().drop_nulls().is_in(people_and_groups).all()
    per_user = groups.filter(pl.col("isCriticalSystemObject").is_null())["member"].list.len().sum() / 4000
    assert 1 < per_user < 6


def test_nesting_has_no_cycles(forest: Forest) -> None:
    edges = (
        forest.groups.select("dn", "member")
        .explode("member")
        .filter(pl.col("member").is_in(forest.groups["dn"].implode()))
    )
    children: dict[str, set[str]] = {}
    for parent, child in edges.iter_rows():
        children.setdefault(parent, set()).add(child)

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for c in children.get(start, ()):
            if c == target or (c not in seen and (seen.add(c) or reaches(c, target, seen))):
                return True
        return False

    assert not any(reaches(g, g, set()) for g in children)


def test_objects_azure_ad_connect_filters_out_are_present(forest: Forest) -> None:
    users = forest.users
    critical = users.filter(pl.col("isCriticalSystemObject"))["sAMAccountName"].to_list()
    assert sorted(set(critical)) == ["Administrator", "Guest", "krbtgt"]
    assert critical.count("krbtgt") == len(forest.domains)
    sams = users["sAMAccountName"]
    assert sams.str.starts_with("MSOL_").sum() == 1
    assert sams.str.starts_with("AAD_").sum() == 1
    assert users["mailNickname"].str.starts_with("SystemMailbox{").sum() == 1
    rtd = users["msExchRecipientTypeDetails"].drop_nulls()
    assert ((rtd & 0x21C07000) > 0).sum() >= 2
    cnf = pl.concat([users.select("dn", "cn"), forest.groups.select("dn", "cn")])
    cnf = cnf.filter(pl.col("dn").str.contains(r"\0ACNF:", literal=True))
    assert cnf.height >= 2
    assert cnf["cn"].str.contains("\nCNF:", literal=True).all()
    builtin_groups = forest.groups.filter(pl.col("isCriticalSystemObject"))["cn"].to_list()
    assert "Domain Admins" in builtin_groups
    role = forest.groups.filter(pl.col("msExchRecipientTypeDetails") == 0x40000000)
    assert role.height == 1
    msol_contact = forest.contacts.filter(pl.col("displayName").str.contains("(MSOL)", literal=True))
    assert msol_contact["msExchHideFromAddressLists"].to_list() == [True]


def test_computers_some_with_certificates(forest: Forest) -> None:
    computers = forest.computers
    with_cert = computers["userCertificate"].drop_nulls()
    assert 0 < with_cert.len() < computers.height
    assert computers["sAMAccountName"].str.ends_with("$").all()
    assert (computers["userAccountControl"] & 0x1000 == 0x1000).all()
    creators = computers["mS-DS-CreatorSID"].drop_nulls()
    assert creators.is_in(all_people(forest)["objectSid"].implode()).all()


def test_zero_sizes_are_allowed() -> None:
    f = generate_forest(0, 0, 1, seed=1)
    assert (
        f.users.height == 3 + 4 + 2 - 2
    )  # built-in + sync accounts + mailboxes; no CNF copies without users
    assert f.groups.filter(pl.col("isCriticalSystemObject").is_null()).height == 2
    assert to_ldif(f).startswith(b"version: 1\n\n")
