"""The ledger's store: what every kernel of this user created, on disk, so nothing billing gets
lost.

A small SQLite database in the data dir (WAL mode, so several kernels, the reaper and the Lab
sidebar can read while one writes). Rows are keyed by ``(api_url, id)``: two emulators, or an
emulator and the real service, may hand out the same id.

The ledger is a memory, not the truth: ``Session`` reconciles it with the API and the API wins.
Only ``sqlite3`` is imported here (and client/statuses.py, which pulls no httpx), so
``%load_ext`` can read it without paying for the HTTP stack.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..config.processes import pid_alive
from .records import ENDED_STATUSES, EventRecord, InstanceRecord, TunnelRecord


def starting_mark(pid: int | None = None) -> int:
    """The reaper_pid of a row whose reaper a process is starting (``start_reaper``): minus that
    process's pid, so a claim whose process died before writing the reaper's pid is seen as
    stale and taken over (else the lease would never end the instance). Every reader takes
    pids <= 0 for no reaper (reaper.stop, ledger/lifecycle.py)."""
    return -(os.getpid() if pid is None else pid)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    api_url TEXT NOT NULL, id TEXT NOT NULL, backend TEXT NOT NULL, name TEXT,
    status TEXT, notebook TEXT, created_at REAL, hourly_rate REAL, lease_seconds REAL,
    offer TEXT, terminated_at REAL, reaper_pid INTEGER, extra TEXT DEFAULT '{}',
    PRIMARY KEY (api_url, id));
-- One launch in flight per name (rows "pending:<name>" are the reservations of launch()).
CREATE UNIQUE INDEX IF NOT EXISTS one_launch_per_name ON instances (api_url, name)
    WHERE id LIKE 'pending:%';
CREATE TABLE IF NOT EXISTS volumes (
    api_url TEXT NOT NULL, id TEXT NOT NULL, backend TEXT NOT NULL, name TEXT, provider TEXT,
    region TEXT, size_gb REAL, notebook TEXT, created_at REAL, deleted_at REAL,
    PRIMARY KEY (api_url, id));
CREATE TABLE IF NOT EXISTS tunnels (
    id TEXT PRIMARY KEY, api_url TEXT, instance_id TEXT, kind TEXT, local_port INTEGER,
    remote_port INTEGER, notebook TEXT, created_at REAL, closed_at REAL, extra TEXT DEFAULT '{}');
CREATE TABLE IF NOT EXISTS log_cursors (
    api_url TEXT NOT NULL, instance_id TEXT NOT NULL, source TEXT NOT NULL, cursor TEXT,
    updated_at REAL, PRIMARY KEY (api_url, instance_id, source));
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, api_url TEXT, instance_id TEXT, ts REAL,
    kind TEXT, detail TEXT);
"""


def default_path() -> Path:
    """``ledger.sqlite`` in the data dir (config.paths decides where that is)."""
    from ..config import paths

    return paths.data_dir() / "ledger.sqlite"


class Ledger:
    """Thin, short-lived connections: each call opens, does its work, and closes."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path else default_path()
        self._ready = False

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        if not self._ready:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        conn.row_factory = sqlite3.Row
        try:
            if not self._ready:
                _initialise(conn)
                os.chmod(self.path, 0o600)
                self._ready = True
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    # -- instances --------------------------------------------------------------------------
    def record_instance(self, rec: InstanceRecord) -> None:
        """Insert or update; fields left at None keep what the ledger already knows."""
        values = {k: v for k, v in rec.__dict__.items() if v is not None and k != "extra"}
        with self._db() as db:
            row = db.execute(
                "SELECT extra FROM instances WHERE api_url=? AND id=?", (rec.api_url, rec.id)
            ).fetchone()
            extra = json.loads(row["extra"]) if row else {}
            extra.update(rec.extra)
            values["extra"] = json.dumps(extra)
            if row is None:
                cols = ",".join(values)
                db.execute(
                    f"INSERT INTO instances ({cols}) VALUES ({','.join('?' * len(values))})",
                    tuple(values.values()),
                )
            else:
                sets = ",".join(f"{k}=?" for k in values)
                db.execute(
                    f"UPDATE instances SET {sets} WHERE api_url=? AND id=?",
                    (*values.values(), rec.api_url, rec.id),
                )

    def record_end(self, api_url: str, id: str, backend: str, status: str, why: str) -> None:
        """An instance seen ending (our terminate, the reaper's, the API no longer knowing it):
        its status and end time, an event ``status: why``, no reaper pending, tunnels closed."""
        self.record_instance(InstanceRecord(api_url, id, backend, status=status,
                                            terminated_at=time.time(), reaper_pid=0))
        self.add_event(api_url, id, status, why)
        self.close_tunnels_of(api_url, id)

    def start_reaper(self, api_url: str, id: str, backend: str, spawn: Callable[[], int], *,
                     stop: Callable[[int], object] | None = None) -> int | None:
        """Start the instance's one reaper: of callers racing (two kernels finding one lost
        create), only the one whose transaction claims the row (``starting_mark()`` written
        where no pid is) runs ``spawn``, then writes its pid. None for the others: a reaper
        runs or is being started. A ``spawn`` that fails gives the claim back. With ``stop``
        (extend, a scheduled terminate) the caller replaces a running reaper: it claims the
        row unless one is being started, then stops the old pid."""
        with self._db() as db:
            db.execute("INSERT OR IGNORE INTO instances (api_url, id, backend) VALUES (?,?,?)",
                       (api_url, id, backend))
            old = db.execute("SELECT reaper_pid FROM instances WHERE api_url=? AND id=?",
                             (api_url, id)).fetchone()["reaper_pid"] or 0
            if (old < 0 and pid_alive(-old)) or (old > 0 and stop is None):
                return None  # being started by a live process, or running
            db.execute("UPDATE instances SET reaper_pid=? WHERE api_url=? AND id=?",
                       (starting_mark(), api_url, id))
        if old > 0 and stop is not None:
            stop(old)
        try:
            pid = spawn()
        except BaseException:
            with self._db() as db:  # only our claim: a cancel or an end may have cleared it
                db.execute("UPDATE instances SET reaper_pid=0 WHERE api_url=? AND id=? "
                           "AND reaper_pid=?", (api_url, id, starting_mark()))
            raise
        # Written even if a cancel cleared the claim meanwhile: a running reaper must stay
        # findable, or nothing could stop it (session/lifecycle.py).
        self.record_instance(InstanceRecord(api_url, id, backend, reaper_pid=pid))
        return pid

    def rename_instance(self, api_url: str, old_id: str, new_id: str) -> None:
        """A placeholder row (keyed by the launch name) gets the id the API gave it."""
        with self._db() as db:
            exists = db.execute(
                "SELECT 1 FROM instances WHERE api_url=? AND id=?", (api_url, new_id)
            ).fetchone()
            if exists:
                # A listing recorded the real row first: keep it, fill its gaps from ours.
                for col in ("notebook", "lease_seconds", "offer", "hourly_rate", "created_at"):
                    db.execute(
                        f"UPDATE instances SET {col}=COALESCE({col}, (SELECT {col} FROM "
                        "instances WHERE api_url=? AND id=?)) WHERE api_url=? AND id=?",
                        (api_url, old_id, api_url, new_id),
                    )
                olds = db.execute("SELECT extra FROM instances WHERE api_url=? AND id=?",
                                  (api_url, old_id)).fetchone()
                news = db.execute("SELECT extra FROM instances WHERE api_url=? AND id=?",
                                  (api_url, new_id)).fetchone()
                merged = {**json.loads(olds["extra"] if olds else "{}"),
                          **json.loads(news["extra"] or "{}")}
                db.execute("UPDATE instances SET extra=? WHERE api_url=? AND id=?",
                           (json.dumps(merged), api_url, new_id))
                db.execute("DELETE FROM instances WHERE api_url=? AND id=?", (api_url, old_id))
            else:
                db.execute(
                    "UPDATE instances SET id=? WHERE api_url=? AND id=?",
                    (new_id, api_url, old_id),
                )
            db.execute(
                "UPDATE events SET instance_id=? WHERE api_url=? AND instance_id=?",
                (new_id, api_url, old_id),
            )

    def reserve_name(self, rec: InstanceRecord) -> InstanceRecord | None:
        """Write a launch's placeholder row unless a billing row already holds its name.

        One transaction (BEGIN IMMEDIATE, plus the unique index on placeholders), so of two
        kernels launching one name at once exactly one gets the row. Returns the holder's
        row when the name is taken (nothing written), else None.
        """
        with self._db() as db:
            rows = db.execute("SELECT * FROM instances WHERE api_url=? AND name=? "
                              "ORDER BY created_at DESC", (rec.api_url, rec.name)).fetchall()
            holder = next((r for r in map(_instance, rows) if r.active), None)
            if holder is not None:
                return holder
            values = {k: v for k, v in rec.__dict__.items() if v is not None and k != "extra"}
            values["extra"] = json.dumps(rec.extra)
            db.execute(f"INSERT OR REPLACE INTO instances ({','.join(values)}) "
                       f"VALUES ({','.join('?' * len(values))})", tuple(values.values()))
        return None

    def forget_instance(self, api_url: str, id: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM instances WHERE api_url=? AND id=?", (api_url, id))

    def instances(self, api_url: str | None = None, *, active_only=False) -> list[InstanceRecord]:
        sql, args = "SELECT * FROM instances", []
        where = []
        if api_url is not None:
            where.append("api_url=?")
            args.append(api_url)
        if active_only:
            # Compared as records.is_billing compares (client/statuses.py's normalize_status).
            ended = ",".join("?" * len(ENDED_STATUSES))
            where.append(f"LOWER(TRIM(COALESCE(status, ''))) NOT IN ({ended})")
            args.extend(ENDED_STATUSES)
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._db() as db:
            rows = db.execute(sql + " ORDER BY created_at", args).fetchall()
        return [_instance(row) for row in rows]

    def instance(self, api_url: str, id: str) -> InstanceRecord | None:
        with self._db() as db:
            row = db.execute(
                "SELECT * FROM instances WHERE api_url=? AND id=?", (api_url, id)
            ).fetchone()
        return _instance(row) if row else None

    # -- volumes ----------------------------------------------------------------------------
    def record_volume(self, api_url, id, *, backend, name=None, provider=None, region=None,
                      size_gb=None, notebook=None, created_at=None, deleted_at=None) -> None:
        with self._db() as db:
            db.execute(
                "INSERT INTO volumes (api_url,id,backend,name,provider,region,size_gb,notebook,"
                "created_at,deleted_at) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(api_url,id) DO "
                "UPDATE SET deleted_at=COALESCE(excluded.deleted_at, deleted_at),"
                " name=COALESCE(excluded.name, name)",
                (api_url, id, backend, name, provider, region, size_gb, notebook,
                 created_at or time.time(), deleted_at),
            )

    def volumes(self, api_url: str | None = None) -> list[dict[str, Any]]:
        with self._db() as db:
            rows = db.execute(
                "SELECT * FROM volumes" + (" WHERE api_url=?" if api_url else ""),
                (api_url,) if api_url else (),
            ).fetchall()
        return [dict(row) for row in rows]

    # -- tunnels ----------------------------------------------------------------------------
    def record_tunnel(self, rec: TunnelRecord) -> None:
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO tunnels (id,api_url,instance_id,kind,local_port,"
                "remote_port,notebook,created_at,closed_at,extra) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (rec.id, rec.api_url, rec.instance_id, rec.kind, rec.local_port, rec.remote_port,
                 rec.notebook, rec.created_at or time.time(), rec.closed_at,
                 json.dumps(rec.extra)),
            )

    def close_tunnel(self, id: str) -> None:
        with self._db() as db:
            db.execute("UPDATE tunnels SET closed_at=? WHERE id=?", (time.time(), id))

    def close_tunnels_of(self, api_url: str, instance_id: str) -> None:
        with self._db() as db:
            db.execute("UPDATE tunnels SET closed_at=? WHERE api_url=? AND instance_id=? AND "
                       "closed_at IS NULL", (time.time(), api_url, instance_id))

    def tunnels(self, api_url: str | None = None, *, open_only=True) -> list[TunnelRecord]:
        sql = "SELECT * FROM tunnels WHERE 1=1"
        args: list[Any] = []
        if api_url:
            sql += " AND api_url=?"
            args.append(api_url)
        if open_only:
            sql += " AND closed_at IS NULL"
        with self._db() as db:
            rows = db.execute(sql + " ORDER BY created_at", args).fetchall()
        out = []
        for row in rows:
            data = dict(row)
            data["extra"] = json.loads(data.get("extra") or "{}")
            out.append(TunnelRecord(**data))
        return out

    # -- log cursors ------------------------------------------------------------------------
    def save_cursor(self, api_url: str, instance_id: str, source: str, cursor: str) -> None:
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO log_cursors VALUES (?,?,?,?,?)",
                (api_url, instance_id, source, cursor, time.time()),
            )

    def cursor(self, api_url: str, instance_id: str, source: str) -> str | None:
        with self._db() as db:
            row = db.execute(
                "SELECT cursor FROM log_cursors WHERE api_url=? AND instance_id=? AND source=?",
                (api_url, instance_id, source),
            ).fetchone()
        return row["cursor"] if row else None

    # -- events -----------------------------------------------------------------------------
    def add_event(self, api_url: str, instance_id: str, kind: str, detail: str = "",
                  ts: float | None = None) -> None:
        with self._db() as db:
            db.execute(
                "INSERT INTO events (api_url,instance_id,ts,kind,detail) VALUES (?,?,?,?,?)",
                (api_url, instance_id, ts or time.time(), kind, detail),
            )

    def events(self, api_url: str, instance_id: str, after_seq: int = 0) -> list[EventRecord]:
        with self._db() as db:
            rows = db.execute(
                "SELECT seq,instance_id,ts,kind,detail FROM events WHERE api_url=? AND "
                "instance_id=? AND seq>? ORDER BY seq",
                (api_url, instance_id, after_seq),
            ).fetchall()
        return [EventRecord(**dict(row)) for row in rows]


def _initialise(conn: sqlite3.Connection, *, deadline_s: float = 10.0) -> None:
    """Switch to WAL and create the schema, retrying while another process does the same.

    Two kernels opening a fresh ledger at once race here: changing the journal mode takes an
    exclusive lock for which sqlite may answer "database is locked" at once, without waiting
    for the connection's busy timeout (seen in tests/test_session_money.py's two-process test).
    """
    end = time.monotonic() + deadline_s
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > end:
                raise
            time.sleep(0.05)


def _instance(row: sqlite3.Row) -> InstanceRecord:
    data = dict(row)
    data["extra"] = json.loads(data.get("extra") or "{}")
    return InstanceRecord(**data)


def still_billing(path: str | os.PathLike | None = None) -> list[InstanceRecord]:
    """Active instances in the ledger, read without creating anything (for ``%load_ext``)."""
    path = Path(path) if path else default_path()
    if not path.exists():
        return []
    try:
        return Ledger(path).instances(active_only=True)
    except sqlite3.Error:
        return []
