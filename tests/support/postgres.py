"""A private PostgreSQL cluster for integration tests.

The cluster lives in a fresh temporary directory on a free port, listens on
127.0.0.1 only, and is stopped and removed at the end even when the test
fails (its server log is printed then).  PostgreSQL refuses to run as root,
and CI runs tests as root: the cluster then runs as the ``postgres`` system
user (``runuser -u postgres --``), in a directory owned by that user.

Missing PostgreSQL or psycopg is a failure with the install hint, never a skip.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hotline.store.db import Database

INSTALL_HINT = (
    "PostgreSQL is needed: run 'bash scripts/system-deps.sh' as root (Debian package "
    "postgresql) and install the Python driver (PyPI package psycopg[binary])"
)
SYSTEM_USER = "postgres"
DB_USER = "hotline"


def server_bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` that has initdb and pg_ctl."""
    found = [
        Path(p)
        for p in glob.glob("/usr/lib/postgresql/*/bin")
        if (Path(p) / "initdb").exists() and (Path(p) / "pg_ctl").exists()
    ]
    if not found:
        raise AssertionError(f"no PostgreSQL server binaries found: {INSTALL_HINT}")

    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in p.parent.name.split(".") if x.isdigit())

    return max(found, key=version)


def require_driver() -> None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise AssertionError(f"psycopg is not installed: {INSTALL_HINT}") from None


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PostgresCluster:
    """initdb + pg_ctl on a temporary directory; ``start``/``stop`` may be repeated."""

    def __init__(self, root: Path, bin_dir: Path) -> None:
        self.root = root
        self.bin_dir = bin_dir
        self.data = root / "data"
        self.sockets = root / "sockets"
        self.log = root / "server.log"
        self.port = free_tcp_port()
        self._as_system_user = os.geteuid() == 0
        self._databases = 0

    def _run(self, *args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if self._as_system_user:
            cmd = ["runuser", "-u", SYSTEM_USER, "--", *cmd]
        result = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout_s, check=False, cwd=self.root
        )
        if result.returncode != 0:
            raise AssertionError(
                f"{' '.join(args[:2])} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}\n{self.server_log()}"
            )
        return result

    def init(self) -> None:
        self.sockets.mkdir()
        if self._as_system_user:
            shutil.chown(self.root, SYSTEM_USER, SYSTEM_USER)
            shutil.chown(self.sockets, SYSTEM_USER, SYSTEM_USER)
        self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            DB_USER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.log),
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self) -> None:
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def is_running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def server_log(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-4000:]
        except OSError:
            return "(no server log)"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{DB_USER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; its SQLAlchemy URL."""
        import psycopg

        self._databases += 1
        name = f"hotline_test_{self._databases}"
        conninfo = f"host=127.0.0.1 port={self.port} user={DB_USER} dbname=postgres"
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextmanager
def running_cluster(keep_log: Path | None = None) -> Iterator[PostgresCluster]:
    """A started private cluster, stopped and removed afterwards whatever happens.

    The server log is copied to ``keep_log`` (e.g. a file in pytest's tmp_path) at the end.
    """
    require_driver()
    bin_dir = server_bin_dir()
    root = Path(tempfile.mkdtemp(prefix="hotline-pg-"))
    cluster = PostgresCluster(root, bin_dir)
    failed = True
    try:
        cluster.init()
        cluster.start()
        yield cluster
        failed = False
    finally:
        try:
            if cluster.is_running():
                cluster.stop()
        finally:
            if keep_log is not None and cluster.log.exists():
                shutil.copyfile(cluster.log, keep_log)
            if failed:
                print(f"PostgreSQL server log (kept at {keep_log}):\n{cluster.server_log()}")
            shutil.rmtree(root, ignore_errors=True)


@contextmanager
def migrated_database(cluster: PostgresCluster) -> Iterator[Database]:
    """A fresh database in ``cluster``, migrated to head and disposed of afterwards."""
    db = Database(cluster.new_database())
    db.migrate()
    try:
        yield db
    finally:
        db.dispose()
