"""Jetson device history and device tokens in one embedded SQLite database.

The server and ``jupyter cnnvis token ...`` open the same file (by default
``{jupyter_data_dir}/cnnvis/devices.sqlite``), so a token revoked from a shell is seen by a running
server at its next check. Samples are stored once per ``(device, seq)``: agents send sequence
numbers in increasing order, and a device's ``last_seq`` only grows, so a resent sample (the
acknowledgement was lost) is recognised even after old rows were trimmed away.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import BadRequest, NotFound

SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    name TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, created REAL NOT NULL, revoked REAL, last_used REAL);
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, token TEXT, info TEXT NOT NULL DEFAULT '{}',
    first_seen REAL, last_seen REAL, last_seq INTEGER NOT NULL DEFAULT 0, count INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS samples (
    device TEXT NOT NULL, seq INTEGER NOT NULL, t REAL, received REAL NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (device, seq)) WITHOUT ROWID;
"""
TOKEN_PREFIX = "cnvd_"
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


def default_path() -> Path:
    """``$CNNVIS_DEVICES_DB``, else ``cnnvis/devices.sqlite`` under the Jupyter data dir."""
    from jupyter_core.paths import jupyter_data_dir

    if os.environ.get("CNNVIS_DEVICES_DB"):
        return Path(os.environ["CNNVIS_DEVICES_DB"])
    return Path(jupyter_data_dir()) / "cnnvis" / "devices.sqlite"


def token_hash(token: str) -> str:
    # Tokens are 256 random bits, so a plain SHA-256 cannot be brute-forced; no salt or slow hash needed.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def check_name(name: Any, what: str = "name") -> str:
    if not isinstance(name, str) or not 1 <= len(name) <= 64 or not set(name) <= NAME_CHARS:
        raise BadRequest(f"A {what} is 1 to 64 letters, digits, '.', '_' or '-'; got {name!r}.")
    return name


class DeviceStore:
    """Thread-safe access to the database: one connection per thread, writes under one lock."""

    def __init__(self, path: str | os.PathLike[str] | None = None, max_samples: int = 200_000):
        self.path = Path(path) if path else default_path()
        self.max_samples = max(1, int(max_samples))
        self._local = threading.local()
        self._write = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._write:
            self.db.executescript(SCHEMA)

    @property
    def db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(str(self.path), timeout=10, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")  # readers (CLI, other threads) never block the writer
            conn.execute("PRAGMA synchronous=FULL")  # an acknowledged sample survives a power cut
            self._local.conn = conn
        return conn

    def _transaction(self, statements: Iterable[tuple[str, tuple]]) -> None:
        with self._write:
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            try:
                for sql, args in statements:
                    db.execute(sql, args)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    # -- tokens -------------------------------------------------------------------------------------

    def create_token(self, name: str) -> str:
        """A new token for ``name``; only its hash is kept. A revoked name may be reissued."""
        check_name(name, "token name")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._write:
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT revoked FROM tokens WHERE name = ?", (name,)).fetchone()
                if row is not None and row[0] is None:
                    raise BadRequest(f"A token named {name!r} exists; revoke it first or pick another name.")
                db.execute("INSERT OR REPLACE INTO tokens (name, hash, created) VALUES (?, ?, ?)",
                           (name, token_hash(token), time.time()))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return token

    def revoke_token(self, name: str) -> None:
        with self._write:
            cur = self.db.execute("UPDATE tokens SET revoked = ? WHERE name = ? AND revoked IS NULL",
                                  (time.time(), name))
        if cur.rowcount == 0:
            raise NotFound(f"No active token named {name!r}; see `jupyter cnnvis token list`.")

    def tokens(self) -> list[dict]:
        rows = self.db.execute("SELECT name, created, revoked, last_used FROM tokens ORDER BY name").fetchall()
        return [{"name": n, "created": c, "revoked": r, "last_used": u, "active": r is None} for n, c, r, u in rows]

    def verify(self, token: str | None) -> str | None:
        """The name of the active token ``token``, else None."""
        if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        row = self.db.execute("SELECT name FROM tokens WHERE hash = ? AND revoked IS NULL",
                              (token_hash(token),)).fetchone()
        return row[0] if row else None

    def active_hashes(self) -> set[str]:
        """Hashes of the tokens not revoked (a reissued name has a new hash, so old connections end)."""
        return {r[0] for r in self.db.execute("SELECT hash FROM tokens WHERE revoked IS NULL")}

    # -- devices and samples ------------------------------------------------------------------------

    def attach(self, device: str, name: str, token: str, info: dict) -> int:
        """Record a connecting device; returns the last sequence number stored for it."""
        now = time.time()
        self._transaction([
            ("INSERT OR IGNORE INTO devices (id, name, first_seen) VALUES (?, ?, ?)", (device, name, now)),
            ("UPDATE devices SET name = ?, token = ?, info = ?, last_seen = ? WHERE id = ?",
             (name, token, json.dumps(info), now, device)),
            ("UPDATE tokens SET last_used = ? WHERE name = ?", (now, token)),
        ])
        return self.last_seq(device)

    def last_seq(self, device: str) -> int:
        row = self.db.execute("SELECT last_seq FROM devices WHERE id = ?", (device,)).fetchone()
        return row[0] if row else 0

    def add(self, device: str, samples: list[dict]) -> tuple[int, list[dict]]:
        """Store the samples not stored yet, in one transaction.

        Returns ``(last_seq, stored)``: everything up to ``last_seq`` is on disk (the agent's
        acknowledgement), ``stored`` the samples new to this call.
        """
        now = time.time()
        with self._write:
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            try:
                last = self.last_seq(device)
                stored = []
                for sample in sorted(samples, key=lambda s: s["seq"]):
                    if sample["seq"] > last:
                        sample["received"] = now
                        db.execute("INSERT INTO samples (device, seq, t, received, body) VALUES (?, ?, ?, ?, ?)",
                                   (device, sample["seq"], sample.get("t"), now, json.dumps(sample)))
                        last = sample["seq"]
                        stored.append(sample)
                if stored:
                    db.execute("UPDATE devices SET last_seq = ?, count = count + ?, last_seen = ? WHERE id = ?",
                               (last, len(stored), now, device))
                    self._trim(device)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return last, stored

    def _trim(self, device: str) -> None:
        count = self.db.execute("SELECT count FROM devices WHERE id = ?", (device,)).fetchone()[0]
        # Trim in steps of 1% so a full device costs one DELETE per hundred batches, not per batch.
        if count <= self.max_samples + self.max_samples // 100:
            return
        row = self.db.execute("SELECT seq FROM samples WHERE device = ? ORDER BY seq DESC LIMIT 1 OFFSET ?",
                              (device, self.max_samples)).fetchone()
        if row is not None:
            self.db.execute("DELETE FROM samples WHERE device = ? AND seq <= ?", (device, row[0]))
        self.db.execute("UPDATE devices SET count = (SELECT COUNT(*) FROM samples WHERE device = ?) WHERE id = ?",
                        (device, device))

    def devices(self) -> list[dict]:
        rows = self.db.execute("SELECT id, name, token, info, first_seen, last_seen, last_seq, count "
                               "FROM devices ORDER BY id").fetchall()
        return [{"id": i, "name": n, "token": tok, "info": json.loads(info), "first_seen": f, "last_seen": ls,
                 "last_seq": seq, "count": c} for i, n, tok, info, f, ls, seq, c in rows]

    def device(self, device: str) -> dict:
        for entry in self.devices():
            if entry["id"] == device:
                return entry
        raise NotFound(f"No device {device!r}; it appears once its agent has connected.")

    def samples(self, device: str, since: int = 0, limit: int = 10_000) -> list[dict]:
        """Stored samples with ``seq > since``, oldest first, at most ``limit``."""
        rows = self.db.execute("SELECT body FROM samples WHERE device = ? AND seq > ? ORDER BY seq LIMIT ?",
                               (device, since, limit)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
