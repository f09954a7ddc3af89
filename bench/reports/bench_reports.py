"""A year of a busy 122 in PostgreSQL and SQLite: the daily report, a month by topic, a CDR search.

Run: ``.venv/bin/python bench/reports/bench_reports.py [--calls N] [--db postgresql|sqlite]``
(default 10,000,000 calls into PostgreSQL).

PostgreSQL is a private cluster started by this script on a temporary
directory and a free port (as the integration tests do), stopped and removed
at the end.  SQLite is a file in a temporary directory, removed at the end.

Load (the bulk path, see ``year_rows.py``): the projection rows of every call
and the operators' raw events are drawn day by day and written with COPY
(PostgreSQL) or ``executemany`` (SQLite), with the secondary indexes dropped
during the load and built afterwards; then the 15-minute rollups are computed
from the rows by the writer's own SQL (``recompute_rollups``).  Raw call
events are *not* generated for the year (only the operators' events are).

Timed (each the median of 5 runs after one warm-up, the whole path from SQL
to the report rows, as ``hotline report`` runs it):

* the daily report: one day, every metric, no grouping (operator time included);
* the daily report by queue in 15-minute intervals;
* a month by topic (one row per topic) and a month by topic and day;
* a CDR search by number over a month, and over the whole year.

Targets (issue 7): PostgreSQL < 1 s for a day, < 3 s for a month.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Index, text
from year_rows import COLUMNS, YEAR_START, year_days

from hotline.reports.events import event_from_record
from hotline.reports.metrics_config import Dimension, Interval, MetricsConfig
from hotline.reports.projection import ms_of
from hotline.reports.projection_report import projection_unusable, report_from_projections
from hotline.store.db import Database
from hotline.store.event_queries import EventQueries
from hotline.store.events import EventRow
from hotline.store.projection_queries import ProjectionQueries
from hotline.store.projections import PROJECTION_MODELS, ProjectionMetaRow
from hotline.store.rollups import recompute_rollups

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from support.postgres import PostgresCluster, server_bin_dir

__all__ = ["main"]

LOADED = ("call_records", "call_visits", "call_handlings", "call_spans", "events")
DAY = datetime(2026, 3, 17, tzinfo=UTC)  # a Tuesday
MONTH = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
YEAR = (YEAR_START, YEAR_START + timedelta(days=365))
PG_SETTINGS = {
    "shared_buffers": "1GB",
    "work_mem": "64MB",
    "maintenance_work_mem": "512MB",
    "max_wal_size": "8GB",
    "effective_cache_size": "3GB",
}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _log(message: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def _indexes(db: Database) -> list[Index]:
    tables = [m.__table__ for m in PROJECTION_MODELS.values()] + [EventRow.__table__]
    return [ix for t in tables for ix in t.indexes]


def _load(db: Database, calls: int) -> dict[str, float]:
    """Draw and write the year; returns timings and counts."""
    indexes = _indexes(db)
    with db.engine.begin() as conn:
        for ix in indexes:
            ix.drop(conn)
    counts = dict.fromkeys(LOADED, 0)
    started = time.perf_counter()
    pg = db.engine.dialect.name == "postgresql"
    raw = db.engine.raw_connection()
    try:
        for d, day in enumerate(year_days(calls)):
            cur = raw.cursor()
            for table in LOADED:
                rows = getattr(day, table)
                if not rows:
                    continue
                counts[table] += len(rows)
                cols = COLUMNS[table]
                if pg:
                    with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                        for row in rows:
                            copy.write_row(row)
                else:
                    marks = ", ".join("?" * len(cols))
                    cur.executemany(
                        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})", rows
                    )
            raw.commit()
            if d % 30 == 29:
                _log(f"day {d + 1}: {counts['call_records']:,} calls loaded")
    finally:
        raw.close()
    loaded = time.perf_counter()
    with db.engine.begin() as conn:
        for ix in indexes:
            ix.create(conn)
    indexed = time.perf_counter()
    with db.engine.begin() as conn:
        recompute_rollups(conn, queue_buckets=None, call_buckets=None)
        seq = conn.execute(text("SELECT COALESCE(MAX(seq), 0) FROM events")).scalar_one()
        conn.execute(
            ProjectionMetaRow.__table__.update()
            .where(ProjectionMetaRow.id == 1)
            .values(projected_seq=seq)
        )
    rolled = time.perf_counter()
    with db.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    return {
        "load_s": loaded - started,
        "index_s": indexed - loaded,
        "rollup_s": rolled - indexed,
        **{f"rows_{k}": float(v) for k, v in counts.items()},
    }


def _timed(fn: Callable[[], Any], runs: int = 5) -> tuple[float, Any]:
    result = fn()  # warm-up
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def _queries(db: Database) -> list[tuple[str, float, str]]:
    config = MetricsConfig()
    source = ProjectionQueries(db)
    assert source.is_current(), "projections not current after the load"
    events = EventQueries(db)

    def report(
        start: datetime, end: datetime, interval: Interval | None, by: tuple[Dimension, ...]
    ) -> Any:
        assert projection_unusable(source, start=start, end=end, config=config, by=by) is None
        operator_events = (
            [event_from_record(s) for s in events.operator_events_for_report(start, end)]
            if not by
            else []
        )
        return report_from_projections(
            source, start=start, end=end, config=config, interval=interval, by=by,
            operator_events=operator_events,
        )  # fmt: skip

    day_end = DAY + timedelta(days=1)
    out: list[tuple[str, float, str]] = []
    cases: list[tuple[str, Callable[[], Any]]] = [
        ("day, every metric", lambda: report(DAY, day_end, None, ())),
        ("day by queue, 15 min", lambda: report(DAY, day_end, Interval.MIN15, (Dimension.QUEUE,))),
        ("month by topic", lambda: report(*MONTH, None, (Dimension.TOPIC,))),
        ("month by topic and day", lambda: report(*MONTH, Interval.DAY, (Dimension.TOPIC,))),
    ]
    for name, fn in cases:
        seconds, rows = _timed(fn)
        first = rows[0]
        out.append((name, seconds, f"{len(rows)} rows; offered {sum(r.offered for r in rows):,}, "
                    f"first SL {first.service_level}"))  # fmt: skip
    with db.engine.connect() as conn:
        caller = conn.execute(
            text("SELECT caller_digits FROM call_records WHERE caller_digits IS NOT NULL "
                 "AND started_ms >= :a ORDER BY started_ms LIMIT 1"),
            {"a": ms_of(DAY)},
        ).scalar_one()  # fmt: skip
    for name, (lo, hi) in (("CDR by number, a month", MONTH), ("CDR by number, the year", YEAR)):
        seconds, rows = _timed(
            lambda lo=lo, hi=hi: source.cdrs(ms_of(lo), ms_of(hi), number=caller)
        )
        out.append((name, seconds, f"{len(rows)} calls of {caller[:4]}…"))
    return out


@contextmanager
def _database(kind: str, workdir: Path) -> Iterator[tuple[Database, bool]]:
    """The database in ``workdir`` and whether it is already loaded (a kept run)."""
    if kind == "sqlite":
        path = workdir / "year.db"
        loaded = path.exists()
        db = Database(f"sqlite:///{path}")
        try:
            yield db, loaded
        finally:
            db.dispose()
        return
    root = workdir / "pg"
    loaded = (root / "data" / "PG_VERSION").exists()
    if not loaded:
        root.mkdir(parents=True, exist_ok=True)
    cluster = PostgresCluster(root, server_bin_dir())
    try:
        if not loaded:
            cluster.init()
            cluster.start()
            setup = Database(cluster.url())
            with setup.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for name, value in PG_SETTINGS.items():
                    conn.execute(text(f"ALTER SYSTEM SET {name} = '{value}'"))
                conn.execute(text("CREATE DATABASE bench"))
            setup.dispose()
            cluster.stop()
        cluster.start()
        db = Database(cluster.url("bench"))
        try:
            yield db, loaded
        finally:
            db.dispose()
    finally:
        if cluster.is_running():
            cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000_000)
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument(
        "--keep",
        type=Path,
        help="keep the loaded database in this directory (under /tmp); a later run "
        "with the same --keep only runs the queries.  Remove it by hand when done.",
    )
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, {_cpu_model()}, Python {platform.python_version()}")
    print(f"load average at start: {os.getloadavg()}")
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="hotline-bench-reports-"))
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)  # the cluster runs as the postgres user when we are root
    try:
        with _database(args.db, workdir) as (db, loaded):
            if loaded:
                _log(f"reusing the database loaded in {workdir}")
                with db.engine.begin() as conn:
                    for ix in _indexes(db):
                        ix.create(conn, checkfirst=True)
                    conn.execute(text("ANALYZE"))
                for name, seconds, note in _queries(db):
                    print(f"{args.db:10} {name:28} {seconds * 1000:9.1f} ms   {note}")
                print(f"load average at end: {os.getloadavg()}")
                return
            db.migrate()
            _log(f"loading {args.calls:,} calls into {args.db}")
            load = _load(db, args.calls)
            calls = int(load["rows_call_records"])
            print(f"{args.db}: {calls:,} calls, {int(load['rows_call_visits']):,} visits, "
                  f"{int(load['rows_call_handlings']):,} handlings, {int(load['rows_call_spans']):,} "
                  f"spans, {int(load['rows_events']):,} operator events")  # fmt: skip
            rows = sum(v for k, v in load.items() if k.startswith("rows_"))
            print(f"load {load['load_s']:.0f} s ({rows / load['load_s']:,.0f} rows/s incl. drawing), "
                  f"indexes {load['index_s']:.0f} s, rollups {load['rollup_s']:.0f} s")  # fmt: skip
            if args.db == "sqlite":
                size = (workdir / "year.db").stat().st_size
                print(f"sqlite file: {size / 2**30:.1f} GiB")
            for name, seconds, note in _queries(db):
                print(f"{args.db:10} {name:28} {seconds * 1000:9.1f} ms   {note}")
            print(f"load average at end: {os.getloadavg()}")
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
