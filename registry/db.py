"""The database under the registry: engines, transactions, migrations, and errors a person reads.

SQLite (the default, one file) and PostgreSQL behave the same from the service's side:
- a write transaction takes the write lock at BEGIN (SQLite `BEGIN IMMEDIATE`), so two
  writers queue instead of failing half-way; in one process a lock also keeps threads in line
  (datasette's "one writer" idea without its thread);
- every failure to reach, lock or understand the database becomes errors.DatabaseError with
  one line that names the database (password masked) and says what to do.
"""

from __future__ import annotations

import re
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from errors import BadArguments, DatabaseError, StorageError
from registry import audit_chain

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# A writer waits this long for another one (another clerk's scan, the station) before failing.
SQLITE_BUSY_TIMEOUT_MS = 30_000
# How long to try reaching a PostgreSQL server before saying it is down.
PG_CONNECT_TIMEOUT_S = 5
# Any number, the same in every process: serialises concurrent first-time migrations.
PG_MIGRATION_LOCK_ID = 0x637371  # "csq"


def masked(url: str) -> str:
    """The URL with its password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return re.sub(r"://([^:/@]*):[^@]*@", r"://\1:***@", url)


class Database:
    """One engine and the way to use it: `read()` and `write()` transactions."""

    def __init__(self, url: str):
        self.url = url
        self.shown_url = masked(url)
        try:
            parsed = make_url(url)
        except sa_exc.ArgumentError:
            raise BadArguments(f"{url!r} is not a database URL: use sqlite:///path/registry.db or postgresql+psycopg://user@host/db") from None
        self.dialect = parsed.get_backend_name()
        self._write_lock = threading.Lock() if self.dialect == "sqlite" else None
        try:
            if self.dialect == "sqlite":
                self.engine = self._sqlite_engine(parsed)
            elif self.dialect == "postgresql":
                self.engine = create_engine(url, connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S}, pool_pre_ping=True)
            else:
                raise BadArguments(f"{self.shown_url}: unsupported database; use sqlite:/// or postgresql+psycopg://")
        except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ImportError) as exc:
            raise BadArguments(f"{self.shown_url}: cannot use this database URL ({exc}); use sqlite:/// or postgresql+psycopg://") from None
        audit_chain.install(self.engine)  # every audit event inserted through this engine is chained

    def _sqlite_engine(self, parsed) -> Engine:
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            folder = Path(database).expanduser().resolve().parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(f"cannot create the folder for the registry ({exc.strerror}): choose another --db path", path=str(folder)) from None
        engine = create_engine(parsed)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record):
            # We issue BEGIN ourselves (below); pysqlite's own transaction handling would
            # start deferred transactions that fail with "locked" when they turn into writes.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")  # readers never wait for the writer
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection):
            immediate = connection.get_execution_options().get("csq_write", False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    # ------------------------------------------------------------------ transactions

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.errors():
            with self.engine.connect() as conn:
                with conn.begin():
                    yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction: everything inside is committed together, or nothing is."""
        lock = self._write_lock
        if lock is not None:
            lock.acquire()
        try:
            with self.errors():
                with self.engine.connect() as conn:
                    conn = conn.execution_options(csq_write=True)
                    with conn.begin():
                        yield conn
        finally:
            if lock is not None:
                lock.release()

    @contextmanager
    def errors(self) -> Iterator[None]:
        """Database failures in the block become one DatabaseError line for a person."""
        try:
            yield
        except sa_exc.IntegrityError:
            raise  # a constraint the caller knows how to handle (e.g. an envelope seen twice)
        except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DatabaseError) as exc:
            raise DatabaseError(self.explain(exc)) from exc

    def explain(self, exc: Exception) -> str:
        detail = str(getattr(exc, "orig", exc) or exc).strip().splitlines()
        first = detail[0] if detail else exc.__class__.__name__
        lowered = first.lower()
        if "locked" in lowered or "busy" in lowered:
            return (f"the registry {self.shown_url} is locked by another program (waited {SQLITE_BUSY_TIMEOUT_MS // 1000} s); "
                    "let it finish or stop it, then run the command again")
        if "disk is full" in lowered or "disk i/o error" in lowered or "no space" in lowered:
            return (f"the registry {self.shown_url} could not write ({first}): make room on the disk that holds it, "
                    "then run the command again (nothing half-written is kept)")
        if "unable to open" in lowered or "readonly" in lowered or "read-only" in lowered:
            return f"cannot open the registry {self.shown_url} ({first}): check the path and that the folder is writable"
        if self.dialect == "postgresql" and any(w in lowered for w in ("connect", "connection", "refused", "resolve", "timeout", "does not exist", "password")):
            return (f"cannot reach the registry {self.shown_url} ({first}): start the PostgreSQL server "
                    "or fix --db / CSQ_DATABASE_URL")
        return f"the registry {self.shown_url} failed: {first}"

    def raw_rows(self, conn: Connection, query, *, batch: int) -> Iterator[tuple]:
        """The rows of `query` as the driver gives them, streamed in batches.

        For listings of a million rows: SQLAlchemy's own row objects and type conversions
        double the cost. `query` is compiled with its values inline, so it must only hold
        values of our own (dates of the published rules), never a person's input."""
        sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        driver = conn.connection.driver_connection
        cursor = driver.cursor(name="csq_listing") if self.dialect == "postgresql" else driver.cursor()
        try:
            cursor.execute(sql)
            while rows := cursor.fetchmany(batch):
                yield from rows
        finally:
            cursor.close()

    def dispose(self) -> None:
        self.engine.dispose()

    # -------------------------------------------------------------------- migrations

    def alembic_config(self, connection: Connection) -> Config:
        """Alembic's settings built in code: no alembic.ini, any working directory."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = connection
        return config

    def migrate(self) -> str:
        """Bring the schema to the newest revision this program knows; return that revision.
        A database written by a newer program is refused rather than misread."""
        with self.write() as conn:
            if self.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": PG_MIGRATION_LOCK_ID})
            config = self.alembic_config(conn)
            script = ScriptDirectory.from_config(config)
            head = script.get_current_head()
            current = MigrationContext.configure(conn).get_current_revision()
            if current is not None and not _known(script, current):
                raise DatabaseError(
                    f"the registry {self.shown_url} has schema revision {current}, newer than this program knows "
                    f"(newest: {head}): upgrade csq-intake, or use a copy made for this version"
                )
            if current != head:
                command.upgrade(config, "head")
            return head

    def current_revision(self) -> str | None:
        with self.read() as conn:
            return MigrationContext.configure(conn).get_current_revision()


def _known(script: ScriptDirectory, revision: str) -> bool:
    """False when the revision is not one of ours (a newer program wrote the database)."""
    try:
        return script.get_revision(revision) is not None
    except Exception:  # alembic raises its own errors for unknown ids
        return False
