"""Small file helpers every part shares: one atomic write, one "path beside the config file".

    atomic_write(path, b"...", mode=0o640)    # temp file, fsync, rename, fsync of the folder
    ca = config_relative(cfg.uplink.http.ca_file, base_dir)   # relative paths: beside config.yaml
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

STATE_DIR_MODE = 0o750  # the state directory: the service user and its group only
STATE_FILE_MODE = 0o640  # the outbox, evidence pictures, relay records


def config_relative(path: str | os.PathLike, base_dir: Path | None) -> Path:
    """A path from the config: `~` expanded; a relative one is taken beside the config file
    (`base_dir`), or as given when there is no config file."""
    p = Path(path).expanduser()
    if p.is_absolute() or base_dir is None:
        return p
    return Path(base_dir) / p


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, data: bytes | str, mode: int | None = None) -> None:
    """Write via a temp file in the same folder, fsync, rename over, fsync the folder: a crash or
    power cut leaves the old file or the new one, never half of one. `mode`: the file's mode
    (default: the existing file's, else 0644). A failure (ENOSPC, EROFS) leaves no temp file."""
    path = Path(path)
    if mode is None:
        mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(path.parent)
