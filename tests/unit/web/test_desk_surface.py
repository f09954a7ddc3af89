"""The public surface of the workplace modules: every name in ``__all__`` exists, and no more."""

from __future__ import annotations

import importlib

import pytest

MODULES = (
    "hotline.web.desk_api",
    "hotline.web.desk_card",
    "hotline.web.desk_models",
    "hotline.web.live",
    "hotline.web.live_events",
    "hotline.web.supervisor_api",
    "hotline.web.wallboard",
    "hotline.web.workplace",
    "hotline.web.workplace_i18n",
    "hotline.web.workplace_pages",
    "hotline.store.wrapups",
)


@pytest.mark.parametrize("name", MODULES)
def test_every_exported_name_exists_once(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(set(exported), key=exported.index)  # no duplicates
    missing = [n for n in exported if not hasattr(module, n)]
    assert missing == []


def test_workplace_texts_are_russian_and_merged() -> None:
    from hotline.web.i18n import MESSAGES_RU
    from hotline.web.workplace import NOT_READY_REASONS, OUTCOME_CODES
    from hotline.web.workplace_i18n import WORKPLACE_MESSAGES_RU

    assert set(WORKPLACE_MESSAGES_RU) <= set(MESSAGES_RU)
    for code in NOT_READY_REASONS:
        assert f"desk.reason.{code}" in WORKPLACE_MESSAGES_RU
    for code in OUTCOME_CODES:
        assert f"desk.outcome.{code}" in WORKPLACE_MESSAGES_RU
    for kind in ("wait_near_norm", "wait_over_norm", "sl_below_target"):
        assert "{queue}" in WORKPLACE_MESSAGES_RU[f"wb.alert.{kind}"]
