"""Properties of the CSV export and of number masking (Hypothesis)."""

from __future__ import annotations

import csv
import io

from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.reports.cdr import mask_number
from hotline.reports.export import ReportTable, to_csv

_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
_CELL = st.one_of(st.none(), st.integers(-(10**9), 10**9), _TEXT)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.tuples(_CELL, _CELL), max_size=8),
    delimiter=st.sampled_from([",", ";"]),
)
def test_csv_round_trips_any_text(
    rows: list[tuple[str | int | None, str | int | None]], delimiter: str
) -> None:
    table = ReportTable(title="t", keys=("queue_id", "topic"), rows=tuple(rows))
    data = to_csv(table, delimiter=delimiter, protect_formulas=False)
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8")[1:]
    read = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    assert read[0] == ["Очередь", "Тематика"]
    expected = [["" if v is None else str(v) for v in row] for row in rows]
    assert read[1:] == expected


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="+0123456789 ()-", max_size=24))
def test_mask_number_hides_all_but_three_digits(number: str) -> None:
    masked = mask_number(number)
    assert masked is not None
    assert len(masked) == len(number)
    digits = [c for c in number if c.isdigit()]
    shown = [c for c in masked if c.isdigit()]
    if len(digits) <= 3:
        assert masked == number
    else:
        assert shown == [digits[0], *digits[-2:]]
        assert masked.count("*") == len(digits) - 3
