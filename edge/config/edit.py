"""Change a config file safely: comments and order kept, validated before writing, atomic, with backups.

The file is never replaced by one that does not validate; on any problem it stays byte-for-byte as it was.
"""
from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from .loader import ConfigError, parse_yaml, round_trip_yaml, validate_text

KEEP_BACKUPS = 10
_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def split_key(dotted: str) -> list[str | int]:
    """`zones.bins[1].polygon` or `zones.bins.1.polygon` -> ['zones', 'bins', 1, 'polygon']."""
    parts: list[str | int] = []
    pos = 0
    for m in _PART.finditer(dotted):
        if m.start() != pos and dotted[pos:m.start()] != ".":
            raise ConfigError([f"{dotted}: not a key path (use dots, e.g. rules.bag_outside_bin.incident_after_s)"])
        name, index = m.group(1), m.group(2)
        parts.append(int(index) if index is not None else (int(name) if name.isdigit() else name))
        pos = m.end()
    if not parts or pos != len(dotted):
        raise ConfigError([f"{dotted}: not a key path (use dots, e.g. rules.bag_outside_bin.incident_after_s)"])
    return parts


def parse_value(text: str) -> Any:
    """A command-line VALUE read as YAML: `60` is a number, `[1, 2]` a list, `null` clears, `"07:00"` a string."""
    try:
        data = round_trip_yaml().load(f"v: {text}\n" if text.strip() else 'v: ""\n')
    except Exception:
        # not valid YAML as a value: take it as a plain string
        return text
    return data["v"]


def dump(tree: Any, original: str | None = None) -> str:
    buf = io.StringIO()
    round_trip_yaml(original).dump(tree, buf)
    return buf.getvalue()


def _walk(tree: Any, parts: list[str | int], create: bool, dotted: str) -> tuple[Any, str | int]:
    node = tree
    for i, part in enumerate(parts[:-1]):
        nxt = parts[i + 1]
        if isinstance(part, int):
            if not isinstance(node, list) or not 0 <= part < len(node):
                raise ConfigError([f"{dotted}: no item [{part}] at {_path(parts[:i])}"])
            node = node[part]
            continue
        if not isinstance(node, dict):
            raise ConfigError([f"{dotted}: {_path(parts[:i])} is not a section"])
        if part not in node or node[part] is None:
            if not create:
                raise ConfigError([f"{dotted}: not set in this file (its default applies)"])
            node[part] = CommentedSeq() if isinstance(nxt, int) else CommentedMap()
        node = node[part]
    return node, parts[-1]


def _path(parts: list[str | int]) -> str:
    return ".".join(str(p) for p in parts) or "(top level)"


def edited_text(text: str, dotted: str, value: Any = None, *, remove: bool = False, name: str = "config.yaml") -> str:
    """The file's text with one key set (or removed); comments and order preserved. Raises ConfigError."""
    tree = parse_yaml(text, name)
    parts = split_key(dotted)
    parent, last = _walk(tree, parts, create=not remove, dotted=dotted)
    if remove:
        if isinstance(last, int) and isinstance(parent, list) and 0 <= last < len(parent):
            del parent[last]
        elif isinstance(parent, dict) and last in parent:
            del parent[last]
        else:
            raise ConfigError([f"{dotted}: not set in this file (its default applies)"])
    elif isinstance(last, int):
        if not isinstance(parent, list):
            raise ConfigError([f"{dotted}: {_path(parts[:-1])} is not a list"])
        if last == len(parent):
            parent.append(value)
        elif 0 <= last < len(parent):
            parent[last] = value
        else:
            raise ConfigError([f"{dotted}: no item [{last}] (the list has {len(parent)})"])
    else:
        if not isinstance(parent, dict):
            raise ConfigError([f"{dotted}: {_path(parts[:-1])} is not a section"])
        parent[last] = value
    return dump(tree, text)


def atomic_write(path: Path, text: str) -> None:
    """Write via a temp file in the same folder, fsync, rename over, fsync the folder."""
    path = Path(path)
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def backup_dir(path: Path) -> Path:
    return Path(path).parent / "backups"


def list_backups(path: Path) -> list[Path]:
    """Backups of `path`, newest first."""
    folder = backup_dir(path)
    if not folder.is_dir():
        return []
    return sorted(folder.glob(f"{Path(path).name}.*.bak"), key=lambda p: p.name, reverse=True)


def make_backup(path: Path) -> Path:
    folder = backup_dir(path)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S") + f".{time.time_ns() % 1_000_000_000:09d}"
    target = folder / f"{Path(path).name}.{stamp}.bak"
    shutil.copy2(path, target)
    for old in list_backups(path)[KEEP_BACKUPS:]:
        old.unlink(missing_ok=True)
    return target


def write_validated(path: Path, new_text: str) -> None:
    """Validate `new_text` as the config at `path`, back up the current file, then replace it atomically."""
    path = Path(path)
    validate_text(new_text, str(path), path.parent)
    if path.exists():
        make_backup(path)
    atomic_write(path, new_text)


def _read(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such config file"]) from None


def set_key(path: Path, dotted: str, value: Any) -> None:
    """Set one key (a Python value, or text parsed as YAML via parse_value) and write the file safely."""
    path = Path(path)
    write_validated(path, edited_text(_read(path), dotted, value, name=str(path)))


def unset_key(path: Path, dotted: str) -> None:
    path = Path(path)
    write_validated(path, edited_text(_read(path), dotted, remove=True, name=str(path)))


def restore_backup(path: Path, n: int = 1) -> Path:
    """Put back the n-th newest backup (1 = newest). The current file is backed up first."""
    backups = list_backups(path)
    if not 1 <= n <= len(backups):
        raise ConfigError([f"{path}: no backup number {n} (there are {len(backups)})"])
    chosen = backups[n - 1]
    text = chosen.read_text(encoding="utf-8")
    write_validated(Path(path), text)
    return chosen
