"""Evidence pictures on disk, under a size quota (oldest pruned first).

Pictures are stored by content (`<sha256>.jpg` in `<state_dir>/snapshots/`), so the same
bytes are kept once and the uplink finds them from the incident's `snapshot.sha256`.
Writes are atomic and durable (temp file, fsync, rename, fsync of the folder): a power cut
leaves either the whole picture or none.

    store = SnapshotStore.from_config(cfg)
    meta, pruned = store.put_pruning(jpeg_bytes)   # {"sha256", "bytes", "content_type"}, sha256s removed
    docs = book.forget_snapshots(pruned, now)       # their open incidents now carry snapshot: null

The quota is `storage.snapshot_quota_mb`, and pictures are also pruned (oldest first) while the
disk has less than `storage.min_free_mb` free, so evidence never fills the disk the outbox needs.
A picture the disk refuses (ENOSPC, EROFS) raises OSError and leaves nothing behind.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import threading
from pathlib import Path

from ..files import STATE_FILE_MODE, atomic_write

log = logging.getLogger(__name__)

CONTENT_TYPE = "image/jpeg"


class SnapshotStore:
    def __init__(self, folder: str | Path, quota_bytes: int, min_free_bytes: int = 0):
        self.folder = Path(folder)
        self.quota_bytes = int(quota_bytes)
        self.min_free_bytes = int(min_free_bytes)
        self.folder.mkdir(parents=True, exist_ok=True)
        # half-written pictures from a crash or power cut (renamed into place only when complete):
        # the quota counts only *.jpg, so without this they would stay for good
        for tmp in self.folder.glob("*.tmp"):
            tmp.unlink(missing_ok=True)
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, cfg) -> "SnapshotStore":
        return cls(Path(cfg.storage.state_dir) / "snapshots", int(cfg.storage.snapshot_quota_mb * 1024 * 1024),
                   int(cfg.storage.min_free_mb * 1024 * 1024))

    def path(self, sha256: str) -> Path:
        if not sha256 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.folder / f"{sha256}.jpg"

    def put(self, jpeg: bytes) -> dict:
        """Store one picture; returns the incident's `snapshot` block."""
        return self.put_pruning(jpeg)[0]

    def put_pruning(self, jpeg: bytes) -> tuple[dict, list[str]]:
        """Store one picture: (its `snapshot` block, the sha256s pruned to make room). Prunes the
        oldest pictures (never this one) while the folder is over quota or the disk is short of
        `min_free_bytes`, before writing (so a tight disk has room) and after."""
        if not jpeg.startswith(b"\xff\xd8"):
            raise ValueError("not a JPEG (no SOI marker)")
        sha = hashlib.sha256(jpeg).hexdigest()
        with self._lock:
            target = self.path(sha)
            pruned = self._prune(keep=sha, incoming=0 if target.exists() else len(jpeg))
            if target.exists():
                os.utime(target)  # in use again: youngest now
            else:
                atomic_write(target, jpeg, mode=STATE_FILE_MODE)
            pruned += self._prune(keep=sha)
        return {"sha256": sha, "bytes": len(jpeg), "content_type": CONTENT_TYPE}, pruned

    def get(self, sha256: str) -> bytes | None:
        try:
            return self.path(sha256).read_bytes()
        except (FileNotFoundError, ValueError):
            return None

    def has(self, sha256: str) -> bool:
        try:
            return self.path(sha256).is_file()
        except ValueError:
            return False

    def usage(self) -> tuple[int, int]:
        """(pictures, bytes) currently stored."""
        files = list(self.folder.glob("*.jpg"))
        return len(files), sum(_size(p) for p in files)

    def _free_bytes(self) -> int | None:
        try:
            return shutil.disk_usage(self.folder).free
        except OSError:
            return None

    def _prune(self, keep: str, incoming: int = 0) -> list[str]:
        entries = []
        for p in self.folder.glob("*.jpg"):
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            entries.append((st.st_mtime, p.name, st.st_size, p))
        total = sum(e[2] for e in entries) + incoming
        free = self._free_bytes()
        short = 0 if free is None else max(0, self.min_free_bytes - (free - incoming))
        pruned = []
        for _mtime, _name, size, p in sorted(entries):
            if total <= self.quota_bytes and short <= 0:
                break
            if p.stem == keep:
                continue
            try:
                p.unlink()
            except FileNotFoundError:
                pass
            total -= size
            short -= size
            pruned.append(p.stem)
        if pruned:
            log.info("snapshot quota %d MB or free-space floor %d MB reached: pruned %d oldest picture(s)",
                     self.quota_bytes // (1024 * 1024), self.min_free_bytes // (1024 * 1024), len(pruned))
        return pruned


def _size(p: Path) -> int:
    try:
        return p.stat().st_size
    except FileNotFoundError:
        return 0
