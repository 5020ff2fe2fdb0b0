"""One async SQLAlchemy engine per service: SQLite by default, PostgreSQL when configured.

Writes go through sessions (ORM, one transaction each). Hot reads go through `fetch_all`: a
prebuilt Core statement, no ORM objects. On SQLite it runs right here on the event loop over
a connection kept for reads: in WAL mode a reader never waits for a writer, and the read
(tens of microseconds) costs less than the thread hand-offs aiosqlite makes per statement.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa
from opentelemetry.trace import SpanKind, Tracer, get_current_span
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.orm.exc import StaleDataError

_UNTRACED: AbstractContextManager[None] = nullcontext()
# A reader on the event loop waits at most this long for a lock (only WAL recovery takes
# one), then the read goes through the engine's own thread instead.
_READER_BUSY_TIMEOUT_MS = 50
CommitHook = Callable[[Session], None]
T = TypeVar("T")
# SQLSTATEs of a transaction the database aborted to let a concurrent one through.
_SERIALIZATION_FAILURE = "40001"
_DEADLOCK_DETECTED = "40P01"


class Base(DeclarativeBase):
    """Declarative base; each service declares its tables on its own subclass's metadata."""


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC on the way in and out, also on SQLite (which drops the offset)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: store timezone-aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Database:
    """The engine and session factory of one service's database."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo, "json_deserializer": load_json}
        if self.is_sqlite:
            _ensure_sqlite_dir(url)
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True, pool_recycle=1800)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        # A session class of its own: commit hooks apply to this database's sessions only.
        session_class = type("ServiceSession", (Session,), {})
        self.sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=session_class
        )
        self._commit_hooks: list[CommitHook] = []
        event.listen(session_class, "after_commit", self._after_commit)
        self._reader: Connection | None = None
        self._read_engine: sa.Engine | None = None
        self._reads_here = self.is_sqlite and ":memory:" not in url
        # Set only when traces are exported: then each session is a span.
        self._tracer: Tracer | None = None

    def trace_with(self, tracer: Tracer) -> None:
        """A span per session and transaction (not per statement: the hot reads of
        `fetch_all` take tens of microseconds, about what a span costs; the server span
        holds their time)."""
        self._tracer = tracer

    def on_commit(self, hook: CommitHook) -> None:
        """Call `hook(session)` after each commit of this database's sessions (same task)."""
        self._commit_hooks.append(hook)

    def _after_commit(self, session: Session) -> None:
        for hook in self._commit_hooks:
            hook(session)

    async def fetch_all(
        self, statement: sa.Executable, params: Mapping[str, Any] | None = None
    ) -> Sequence[sa.Row[Any]]:
        """The rows of one read-only Core statement (build statements once, bind per call)."""
        if self._reads_here:
            try:
                return self._read_here(statement, params)
            except sa.exc.OperationalError as exc:
                if not _is_busy(exc):
                    raise
        async with self.engine.connect() as conn:
            return (await conn.execute(statement, params)).all()

    def _read_here(
        self, statement: sa.Executable, params: Mapping[str, Any] | None
    ) -> Sequence[sa.Row[Any]]:
        reader = self._reader
        if reader is None or reader.closed:
            reader = self._reader = self._open_reader()
        try:
            return reader.execute(statement, params).all()
        finally:
            reader.rollback()  # no read transaction outlives the statement (WAL checkpoints)

    def _open_reader(self) -> Connection:
        if self._read_engine is None:
            url = sa.make_url(self.url).set(drivername="sqlite")
            self._read_engine = sa.create_engine(
                url, json_deserializer=load_json, poolclass=sa.pool.StaticPool
            )
            event.listen(self._read_engine, "connect", _reader_pragmas)
        return self._read_engine.connect()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session; the caller commits. Rolled back on error."""
        if self._tracer is None:
            async with self.sessions() as session:
                yield session
            return
        with self._span("db.session"):
            async with self.sessions() as session:
                yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction, committed on success."""
        if self._tracer is None:
            async with self.sessions() as session, session.begin():
                yield session
            return
        with self._span("db.transaction"):
            async with self.sessions() as session, session.begin():
                yield session

    def _span(self, name: str) -> AbstractContextManager[object]:
        assert self._tracer is not None
        if not get_current_span().is_recording():
            # Only within a sampled request's (or call's) trace: a background loop's sessions
            # would each be a trace of one span.
            return _UNTRACED
        system = "sqlite" if self.is_sqlite else "postgresql"
        return self._tracer.start_as_current_span(
            name, kind=SpanKind.CLIENT, attributes={"db.system.name": system}
        )

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._read_engine is not None:
            self._read_engine.dispose()
            self._read_engine = None
        await self.engine.dispose()


def load_json(text: str | bytes) -> Any:
    """JSON columns, decoded by orjson; rows written with NaN (stdlib json) still read."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _is_busy(exc: sa.exc.OperationalError) -> bool:
    return isinstance(exc.orig, sqlite3.OperationalError) and "locked" in str(exc.orig)


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split(":///", 1)[-1].split("?", 1)[0]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _reader_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute(f"PRAGMA busy_timeout={_READER_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers run while a writer commits; busy_timeout waits instead of failing.
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def lost_a_race(exc: BaseException) -> bool:
    """Whether a write transaction failed only because a concurrent one won: a unique key
    taken meanwhile, a row changed or gone under it, a deadlock or serialization failure the
    database broke. Run again, it sees the winner's commit."""
    if isinstance(exc, sa.exc.IntegrityError | StaleDataError):
        return True
    if isinstance(exc, sa.exc.DBAPIError):
        origin = exc.orig
        code = getattr(origin, "sqlstate", None) or getattr(origin, "pgcode", None)
        if code is None and origin is not None:
            code = getattr(origin.__cause__, "sqlstate", None)  # asyncpg's own exception
        return code in (_SERIALIZATION_FAILURE, _DEADLOCK_DETECTED)
    return False


async def again_if_raced(write: Callable[[], Awaitable[T]], attempts: int = 3) -> T:
    """Run `write` (one whole transaction) again when it lost a race, up to `attempts` times."""
    for attempt in range(1, attempts + 1):
        try:
            return await write()
        except Exception as exc:
            if attempt == attempts or not lost_a_race(exc):
                raise
    raise AssertionError("unreachable")
