"""The directory of organisations (R7): repository round trips, limits, the demo's entries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hotline.app.demo import DEMO_ORGANISATIONS, load_demo_organisations
from hotline.calls.numbers import NumberKind, parse_number
from hotline.core.errors import ConfigurationError
from hotline.store.db import Database
from hotline.store.organisations import (
    MAX_TOPICS,
    OrganisationsRepository,
    StoredOrganisation,
)


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[OrganisationsRepository]:
    db = Database(f"sqlite:///{tmp_path / 'h.db'}")
    db.migrate()
    try:
        yield OrganisationsRepository(db)
    finally:
        db.dispose()


MFC = StoredOrganisation("mfc", "МФЦ", "+78000000303", ("services", "social"), "пн–сб 8–20")


def test_save_get_all_and_replace(repo: OrganisationsRepository) -> None:
    repo.save(MFC)
    assert repo.get("mfc") == MFC
    assert repo.get("nobody") is None
    changed = StoredOrganisation("mfc", "МФЦ области", "+78000000304", ("services",), "", False)
    repo.save(changed)
    assert repo.all() == [changed]


def test_for_topic_lists_enabled_organisations_only(repo: OrganisationsRepository) -> None:
    repo.save(MFC)
    repo.save(StoredOrganisation("off", "Закрыто", "+78000000999", ("social",), enabled=False))
    assert [o.organisation_id for o in repo.for_topic("social")] == ["mfc"]
    assert repo.for_topic("health") == []


def test_delete_and_clear(repo: OrganisationsRepository) -> None:
    repo.save(MFC)
    assert repo.delete("mfc") is True
    assert repo.delete("mfc") is False
    repo.save(MFC)
    repo.clear()
    assert repo.all() == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"organisation_id": " "},
        {"name": ""},
        {"number": "1" * 33},
        {"hours": "x" * 501},
        {"topics": tuple(f"t{i}" for i in range(MAX_TOPICS + 1))},
    ],
)
def test_bad_entries_are_refused(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "organisation_id": "mfc",
        "name": "МФЦ",
        "number": "+78000000303",
        "topics": (),
        "hours": "",
    }
    fields.update(kwargs)
    with pytest.raises(ConfigurationError):
        StoredOrganisation(**fields)  # type: ignore[arg-type]


def test_the_demo_directory_loads_with_fictional_toll_free_numbers(
    repo: OrganisationsRepository,
) -> None:
    load_demo_organisations(repo)
    stored = repo.all()
    assert {o.organisation_id for o in stored} == {"minzdrav", "voenkomat", "mfc", "minobr"}
    assert len(stored) == len(DEMO_ORGANISATIONS)
    for org in stored:
        number = parse_number(org.number)
        assert number.kind is NumberKind.TOLL_FREE and number.number.startswith("+7800000")
    assert [o.organisation_id for o in repo.for_topic("military")] == ["voenkomat"]
