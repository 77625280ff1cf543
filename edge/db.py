"""One SQLite setup for the files the box keeps (the outbox; the reference receiver may use it too).

WAL with `synchronous=FULL`: a commit that returned is on disk and survives `kill -9` and
power loss; readers never block the writer. The file is created with `mode` before SQLite
opens it, so the database (and its -wal / -shm, which SQLite gives the same mode) are never
readable by everyone whatever the umask.
"""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

BUSY_TIMEOUT_S = 30


def open_sqlite(path: str | os.PathLike, mode: int = 0o640, exclusive: bool = False) -> sqlite3.Connection:
    """An autocommit connection (use BEGIN IMMEDIATE … COMMIT), usable from several threads
    under the caller's own lock. `exclusive`: no shared-memory index (-shm), for a disk with no
    room left to make one; other processes cannot read the file meanwhile."""
    path = Path(path)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, mode))
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_S)
    try:
        if exclusive:
            db.execute("PRAGMA locking_mode=EXCLUSIVE")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")  # every commit fsync'd: survives power loss
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
    except BaseException:
        db.close()
        raise
    return db
