"""Reading the projections and rollups for reports: plain rows out.

Every method answers one question of
:func:`hotline.reports.projection_report.report_from_projections` or of the
CDR search, for a period ``[start_ms, end_ms)`` in milliseconds since the
Unix epoch.  Rows are plain dicts of column name to value (ORM rows never
leave the store).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from typing import Any, Final

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    Executable,
    case,
    cast,
    func,
    literal,
    or_,
    select,
)

from hotline.store.db import Database
from hotline.store.projections import (
    LONG_SPAN_MS,
    CallHandlingRow,
    CallRecordRow,
    CallSpanRow,
    CallVisitRow,
    Projections,
    long_span_condition,
)
from hotline.store.rollups import CALL_COUNTERS, QUEUE_COUNTERS, RollupCallsRow, RollupQueueRow

__all__ = ["GROUP_COLUMNS", "MAX_CDR_ROWS", "ProjectionQueries"]

GROUP_COLUMNS: Final = ("queue_id", "topic", "trunk", "direction")
"""The dimensions the rollups are grouped by (besides the bucket)."""
MAX_CDR_ROWS: Final = 100_000
_CASE_LIMIT: Final = 64  # SQLite: buckets mapped by a CASE in SQL up to this many

Row = dict[str, Any]


def _check_group(group: Sequence[str], allowed: Sequence[str]) -> None:
    bad = [g for g in group if g not in allowed]
    if bad:
        raise ValueError(f"cannot group by {bad}")


class ProjectionQueries:
    """Read-only access to the projection and rollup tables."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def is_current(self) -> bool:
        """True when the projections reflect every stored event."""
        return Projections.is_current(self._db)

    def _rows(self, stmt: Executable) -> list[Row]:
        with self._db.engine.connect() as conn:
            result = conn.execute(stmt)
            keys = list(result.keys())
            return [dict(zip(keys, r, strict=True)) for r in result]

    def queue_norms(self, start_ms: int, end_ms: int) -> set[tuple[str, int, int]]:
        """(queue, norm_ms, short_ms) the queue rollups of the period were counted with."""
        q = RollupQueueRow
        stmt = (
            select(q.queue_id, q.norm_ms, q.short_ms)
            .where(q.bucket_ms >= start_ms, q.bucket_ms < end_ms, q.norm_ms.is_not(None))
            .distinct()
        )
        with self._db.engine.connect() as conn:
            return {(str(a), int(b or 0), int(c or 0)) for a, b, c in conn.execute(stmt)}

    def queue_sums(
        self, start_ms: int, end_ms: int, group: Sequence[str], boundaries: Sequence[int] = ()
    ) -> list[Row]:
        """Summed queue counters per ``group`` columns (and per report bucket: see
        :meth:`time_to_operator_percentiles` for ``boundaries`` and ``bucket``)."""
        _check_group(group, GROUP_COLUMNS)
        return self._sums(
            RollupQueueRow, group, QUEUE_COUNTERS, start_ms, end_ms, boundaries, {"max_wait_ms"}
        )

    def call_sums(
        self, start_ms: int, end_ms: int, group: Sequence[str], boundaries: Sequence[int] = ()
    ) -> list[Row]:
        """Summed whole-call counters per ``group`` columns (and per report bucket)."""
        _check_group(group, ("topic", "trunk", "direction"))
        return self._sums(RollupCallsRow, group, CALL_COUNTERS, start_ms, end_ms, boundaries, set())

    def _sums(
        self,
        model: type[RollupQueueRow] | type[RollupCallsRow],
        group: Sequence[str],
        names: Sequence[str],
        start_ms: int,
        end_ms: int,
        boundaries: Sequence[int],
        maxed: set[str],
    ) -> list[Row]:
        table = model.__table__
        cols = table.c
        pg = self._db.engine.dialect.name == "postgresql"
        in_sql = bool(boundaries) and (pg or len(boundaries) <= _CASE_LIMIT)
        keys: list[ColumnElement[Any]] = [cols[g] for g in group]
        if in_sql:
            keys.insert(0, self._bucket_index(cols.bucket_ms, boundaries).label("bucket"))
        elif boundaries:
            keys.insert(0, cols.bucket_ms)
        inner = (
            select(*keys, *(cols[n] for n in names))
            .where(cols.bucket_ms >= start_ms, cols.bucket_ms < end_ms)
            .subquery()
        )
        outer_keys = [inner.c[k.key] for k in keys if k.key is not None]
        sums = [
            (func.max(inner.c[n]) if n in maxed else func.sum(inner.c[n])).label(n) for n in names
        ]
        rows = self._rows(select(*outer_keys, *sums).group_by(*outer_keys))
        if not boundaries or in_sql:
            return rows
        # Too many buckets for a CASE on SQLite: map the 15-minute buckets here.
        merged: dict[tuple[Any, ...], Row] = {}
        for r in rows:
            index = bisect_right(boundaries, int(r.pop("bucket_ms"))) - 1
            key = (index, *(r[g] for g in group))
            seen = merged.get(key)
            if seen is None:
                merged[key] = {**r, "bucket": index}
                continue
            for n in names:
                a, b = seen[n], r[n]
                if n in maxed:
                    seen[n] = b if a is None else a if b is None else max(a, b)
                else:
                    seen[n] = (a or 0) + (b or 0)
        return list(merged.values())

    def time_to_operator_percentiles(
        self, start_ms: int, end_ms: int, group: Sequence[str], boundaries: Sequence[int] = ()
    ) -> list[Row]:
        """p50, p90 and max of time to operator per ``group`` (nearest rank), in SQL.

        docs/metrics.md, Time to operator; the rank is ⌈p·n/100⌉ as in
        :func:`hotline.reports.metrics_service.percentile`.  With
        ``boundaries`` (the ascending starts of the report's interval
        buckets, the first at or before ``start_ms``), also per bucket: each
        row's ``bucket`` is the index of its bucket in ``boundaries``.
        """
        _check_group(group, GROUP_COLUMNS)
        v = CallVisitRow
        parts: list[ColumnElement[Any]] = [getattr(v, g) for g in group]
        names = list(group)
        if boundaries:
            entered = v.__table__.c.entered_ms
            parts.append(self._bucket_index(entered, boundaries).label("bucket"))
            names.append("bucket")
        if self._db.engine.dialect.name == "postgresql":
            return self._percentiles_pg(start_ms, end_ms, parts, names)
        ranked = (
            select(
                *parts,
                v.tto_ms,
                func.row_number().over(partition_by=parts, order_by=v.tto_ms).label("rn"),
                func.count().over(partition_by=parts).label("n"),
            )
            .where(v.entered_ms >= start_ms, v.entered_ms < end_ms, v.tto_ms.is_not(None))
            .subquery()
        )
        cols = [ranked.c[g] for g in names]
        n, rn = ranked.c.n, ranked.c.rn
        stmt = select(*cols, ranked.c.tto_ms, rn, n).where(
            or_(rn == (50 * n + 99) // 100, rn == (90 * n + 99) // 100, rn == n)
        )
        out: dict[tuple[Any, ...], Row] = {}
        for r in self._rows(stmt):
            key = tuple(r[g] for g in names)
            row = out.setdefault(key, {g: r[g] for g in names})
            count, rank, value = int(r["n"]), int(r["rn"]), int(r["tto_ms"])
            if rank == (50 * count + 99) // 100:
                row["p50_ms"] = value
            if rank == (90 * count + 99) // 100:
                row["p90_ms"] = value
            if rank == count:
                row["max_ms"] = value
        return list(out.values())

    def _percentiles_pg(
        self, start_ms: int, end_ms: int, parts: list[ColumnElement[Any]], names: list[str]
    ) -> list[Row]:
        """PostgreSQL's ordered-set aggregates: ``percentile_disc(f)`` is the value at
        rank ⌈f·n⌉ with f·n in double precision, exactly as the Python percentile."""
        v = CallVisitRow
        inner = (
            select(*parts, v.tto_ms)
            .where(v.entered_ms >= start_ms, v.entered_ms < end_ms, v.tto_ms.is_not(None))
            .subquery()
        )
        keys = [inner.c[n] for n in names]
        tto = inner.c.tto_ms
        stmt = select(
            *keys,
            func.percentile_disc(0.5).within_group(tto).label("p50_ms"),
            func.percentile_disc(0.9).within_group(tto).label("p90_ms"),
            func.max(tto).label("max_ms"),
        ).group_by(*keys)
        return self._rows(stmt)

    def _bucket_index(
        self, column: ColumnElement[int], boundaries: Sequence[int]
    ) -> ColumnElement[int]:
        """The index of the last boundary at or before ``column``."""
        if self._db.engine.dialect.name == "postgresql":
            thresholds = cast(literal(list(boundaries), ARRAY(BigInteger)), ARRAY(BigInteger))
            return func.width_bucket(column, thresholds) - 1
        whens = [(column >= b, i) for i, b in reversed(list(enumerate(boundaries)))]
        return case(*whens, else_=0)

    @staticmethod
    def _overlapping(start_ms: int, end_ms: int) -> list[list[ColumnElement[bool]]]:
        """Conditions of the spans overlapping the period, as two index-friendly parts.

        Spans starting at most a day before the period (by ``from_ms``), and the
        few longer or open ones (by the partial index ``ix_call_spans_long``).
        """
        s = CallSpanRow
        overlaps = or_(s.to_ms > start_ms, s.to_ms.is_(None))
        recent = start_ms - LONG_SPAN_MS
        return [
            [s.from_ms >= recent, s.from_ms < end_ms, overlaps],
            [long_span_condition(), s.from_ms < min(recent, end_ms), overlaps],
        ]

    def spans(self, start_ms: int, end_ms: int) -> list[Row]:
        """Operator connected/wrap-up spans of calls overlapping the period."""
        s = CallSpanRow
        out: list[Row] = []
        for where in self._overlapping(start_ms, end_ms):
            out.extend(
                self._rows(
                    select(
                        s.call_id, s.operator_id, s.kind, s.from_ms, s.to_ms, s.call_last_ms
                    ).where(*where)
                )
            )
        return out

    def span_sums(self, start_ms: int, end_ms: int, since_ms: int) -> dict[str, int]:
        """Milliseconds of each span kind inside the period (open spans run to its end;
        those of calls with no event since ``since_ms`` are left out, as a raw report
        reading events from ``since_ms`` would)."""
        s = CallSpanRow
        pg = self._db.engine.dialect.name == "postgresql"
        lower, upper = (func.greatest, func.least) if pg else (func.max, func.min)
        hi = upper(func.coalesce(s.to_ms, end_ms), end_ms)
        lo = lower(s.from_ms, start_ms)
        out: dict[str, int] = {}
        for where in self._overlapping(start_ms, end_ms):
            stmt = (
                select(s.kind, func.sum(hi - lo))
                .where(
                    *where,
                    or_(s.to_ms.is_not(None), s.call_last_ms >= since_ms),
                    hi > lo,
                )
                .group_by(s.kind)
            )
            with self._db.engine.connect() as conn:
                for kind, ms in conn.execute(stmt):
                    out[str(kind)] = out.get(str(kind), 0) + int(ms or 0)
        return out

    def cdrs(
        self,
        start_ms: int,
        end_ms: int,
        *,
        number: str | None = None,
        topic: str | None = None,
        operator_id: str | None = None,
        outcome: str | None = None,
        limit: int = MAX_CDR_ROWS,
    ) -> list[Row]:
        """Call records started in the period matching every criterion given.

        ``number``: digits found anywhere in the caller's or called number;
        ``operator_id``: any operator who handled the call.
        """
        r = CallRecordRow
        stmt = select(r).where(r.started_ms >= start_ms, r.started_ms < end_ms)
        if topic is not None:
            stmt = stmt.where(r.topic == topic)
        if outcome is not None:
            stmt = stmt.where(r.outcome == outcome)
        if number is not None:
            pattern = "%" + "".join(c for c in number if c.isdigit()) + "%"
            stmt = stmt.where(or_(r.caller_digits.like(pattern), r.called_digits.like(pattern)))
        if operator_id is not None:
            h = CallHandlingRow
            stmt = stmt.where(
                r.call_id.in_(
                    select(h.call_id).where(h.operator_id == operator_id, h.answered_ms >= start_ms)
                )
            )
        stmt = stmt.order_by(r.started_ms, r.call_id).limit(limit)
        with self._db.session() as session:
            return [
                {c.name: getattr(row, c.name) for c in CallRecordRow.__table__.columns}
                for row in session.scalars(stmt)
            ]
