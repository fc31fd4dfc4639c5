"""The LDIF connector: full import only, one batch per object type, and exactly the changes on re-import."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from emulator.forest import Forest, generate_forest
from emulator.ldif import write_ldif
from flows.connectors.base import Connector
from flows.connectors.ldif import LdifConnector, LdifSyntaxError, SnapshotOnlyError
from transforms.errors import InputError, TerminalError
from transforms.sync.staging import stage_full_import


@pytest.fixture(scope="module")
def forest() -> Forest:
    return generate_forest(users=600, groups=40, domains=2, seed=3)


def staged(previous: pl.DataFrame | None, connector: LdifConnector) -> tuple[pl.DataFrame, dict[str, int]]:
    frames, totals = [], {}
    result = connector.full_import()
    for batch in result.batches:
        prev = None if previous is None else previous.filter(pl.col("_object_type") == batch.object_type)
        s = stage_full_import(prev, batch.frame)
        frames.append(s.frame)
        for k, v in s.counters.items():
            totals[k] = totals.get(k, 0) + v
    return pl.concat(frames, how="diagonal_relaxed"), totals


def test_connector_protocol_and_batches(tmp_path: Path, forest: Forest) -> None:
    path = tmp_path / "f.ldif"
    write_ldif(forest, path)
    connector = LdifConnector("ldif", path, object_types=["user", "group", "foreignSecurityPrincipal"])
    assert isinstance(connector, Connector)
    result = connector.full_import()
    assert result.full
    assert [b.object_type for b in result.batches] == ["user", "group", "foreignSecurityPrincipal"]
    users, groups, fsps = (b.frame for b in result.batches)
    assert users.height == forest.users.height
    assert groups.height == forest.groups.height
    assert fsps.height == 0
    assert users.columns[:3] == ["_anchor", "_dn", "_object_type"]


def test_round_trip_gives_back_the_generated_frames(tmp_path: Path, forest: Forest) -> None:
    """Generator -> LDIF (folded) -> parser: every frame comes back equal (all-null columns aside)."""
    path = tmp_path / "f.ldif"
    write_ldif(forest, path, fold_width=40)
    result = LdifConnector("ldif", path, object_types=list(forest.frames())).full_import()
    for batch in result.batches:
        source = forest.frames()[batch.object_type]
        present = sorted(c for c in source.columns if source[c].null_count() < source.height)
        parsed = batch.frame.drop("_anchor", "_object_type").rename({"_dn": "dn"})
        assert sorted(parsed.columns) == present, batch.object_type
        assert_frame_equal(parsed.select(present), source.select(present))
        assert (batch.frame["_object_type"] == batch.object_type).all()


def test_delta_import_and_export_are_terminal_errors(tmp_path: Path) -> None:
    connector = LdifConnector("ldif", tmp_path / "none.ldif")
    with pytest.raises(SnapshotOnlyError) as info:
        connector.delta_import({})
    assert isinstance(info.value, TerminalError)
    assert not info.value.transient
    with pytest.raises(SnapshotOnlyError):
        connector.export(pl.DataFrame())


def test_a_changed_file_yields_exactly_the_changes(tmp_path: Path, forest: Forest) -> None:
    first, second = tmp_path / "1.ldif", tmp_path / "2.ldif"
    write_ldif(forest, first)
    before, counters = staged(None, LdifConnector("ldif", first))
    assert counters["stage-add"] == before.height
    assert counters["stage-no-change"] == 0

    users = forest.users
    mail_changed = users["dn"][10:13]
    deleted = users["dn"][20:22]
    renamed_group = forest.groups["dn"][5]
    changed_users = users.with_columns(
        mail=pl.when(pl.col("dn").is_in(mail_changed.implode()))
        .then(pl.lit("new@example.com"))
        .otherwise("mail")
    ).filter(~pl.col("dn").is_in(deleted.implode()))
    new_contact = forest.contacts.head(1).with_columns(
        dn=pl.lit("CN=New Contact,OU=Contacts,OU=Corp,DC=corp,DC=example,DC=com"),
        objectGUID=pl.lit(b"\x01" * 16, dtype=pl.Binary),
    )
    frames = dict(forest.frames())
    frames["user"] = changed_users
    frames["contact"] = pl.concat([forest.contacts, new_contact])
    frames["group"] = forest.groups.with_columns(
        dn=pl.when(pl.col("dn") == renamed_group)
        .then(pl.lit("CN=Renamed,OU=Groups,OU=Corp,DC=corp,DC=example,DC=com"))
        .otherwise("dn")
    )
    write_ldif(frames, second)

    # A sync ran in between: nothing is pending any more.
    previous = before.filter(pl.col("_pending") != "delete").with_columns(_pending=pl.lit("none"))
    after, counters = staged(previous, LdifConnector("ldif", second))
    assert counters == {
        "stage-add": 1,
        "stage-update": 3,
        "stage-rename": 1,
        "stage-delete": 2,
        "stage-delete-add": 0,
        "stage-no-change": before.height - 3 - 1 - 2,
    }
    by_kind = after.group_by("_pending").agg(pl.col("_dn").sort()).sort("_pending")
    kinds = dict(by_kind.iter_rows())
    assert kinds["update"] == sorted(
        [*mail_changed.to_list(), "CN=Renamed,OU=Groups,OU=Corp,DC=corp,DC=example,DC=com"]
    )
    assert kinds["delete"] == sorted(deleted.to_list())
    assert kinds["add"] == ["CN=New Contact,OU=Contacts,OU=Corp,DC=corp,DC=example,DC=com"]

    # Importing the same file again: nothing changed.
    synced = after.filter(pl.col("_pending") != "delete").with_columns(_pending=pl.lit("none"))
    again, counters = staged(synced, LdifConnector("ldif", second))
    assert counters["stage-no-change"] == again.height


def test_bad_file_raises_before_returning_anything(tmp_path: Path, forest: Forest) -> None:
    """Parsing is complete before a result exists, so the store never sees half a bad file."""
    path = tmp_path / "bad.ldif"
    write_ldif(forest, path)
    good_lines = path.read_text().count("\n")
    with path.open("a") as fh:
        fh.write("dn: CN=broken,DC=corp,DC=example,DC=com\nobjectClass: user\nno colon here\n")
    connector = LdifConnector("ldif", path)
    result = None
    with pytest.raises(LdifSyntaxError) as info:
        result = connector.full_import()
    assert result is None
    assert isinstance(info.value, InputError)
    assert info.value.line == good_lines + 3
    assert str(info.value).startswith(f"{path}:{good_lines + 3}:1: ")
