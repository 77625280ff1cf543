"""Change a config file safely: comments and order kept, validated before writing, atomic, with backups.

The file is never replaced by one that does not validate; on any problem it stays byte-for-byte as it was.
"""
from __future__ import annotations

import io
import re
import shutil
import time
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.tokens import CommentToken

from ..files import atomic_write  # the one atomic write (temp file, fsync, rename, fsync folder)
from ..i18n import _
from .loader import ConfigError, parse_yaml, round_trip_yaml, validate_text

KEEP_BACKUPS = 10
_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def split_key(dotted: str) -> list[str | int]:
    """`zones.bins[1].polygon` or `zones.bins.1.polygon` -> ['zones', 'bins', 1, 'polygon']."""
    parts: list[str | int] = []
    pos = 0
    for m in _PART.finditer(dotted):
        if m.start() != pos and dotted[pos:m.start()] != ".":
            raise ConfigError([_("{dotted}: not a key path (use dots, e.g. rules.bag_outside_bin.incident_after_s)").format(dotted=dotted)])
        name, index = m.group(1), m.group(2)
        parts.append(int(index) if index is not None else (int(name) if name.isdigit() else name))
        pos = m.end()
    if not parts or pos != len(dotted):
        raise ConfigError([_("{dotted}: not a key path (use dots, e.g. rules.bag_outside_bin.incident_after_s)").format(dotted=dotted)])
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
                raise ConfigError([_("{dotted}: no item [{part}] at {section}").format(dotted=dotted, part=part, section=_path(parts[:i]))])
            node = node[part]
            continue
        if not isinstance(node, dict):
            raise ConfigError([_("{dotted}: {section} is not a section").format(dotted=dotted, section=_path(parts[:i]))])
        if part not in node or node[part] is None:
            if not create:
                raise ConfigError([_("{dotted}: not set in this file (its default applies)").format(dotted=dotted)])
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
            raise ConfigError([_("{dotted}: not set in this file (its default applies)").format(dotted=dotted)])
    elif isinstance(last, int):
        if not isinstance(parent, list):
            raise ConfigError([_("{dotted}: {section} is not a list").format(dotted=dotted, section=_path(parts[:-1]))])
        if last == len(parent) and len(parts) >= 2 and isinstance(parts[-2], str):
            # a new last item: the comments that closed the list (examples) move below it
            grand, key = _walk(tree, parts[:-1], create=False, dotted=dotted)
            return _replace_block(tree, text, grand, key, [*parent, value])
        if last == len(parent):
            parent.append(value)
        elif 0 <= last < len(parent):
            parent[last] = value
        else:
            raise ConfigError([_("{dotted}: no item [{last}] (the list has {count})").format(dotted=dotted, last=last, count=len(parent))])
    else:
        if not isinstance(parent, dict):
            raise ConfigError([_("{dotted}: {section} is not a section").format(dotted=dotted, section=_path(parts[:-1]))])
        if last in parent and _same_kind(parent[last], value):
            return _replace_block(tree, text, parent, last, value)
        parent[last] = value
    return dump(tree, text)


def _same_kind(old: Any, new: Any) -> bool:
    return (isinstance(old, CommentedMap) and isinstance(new, dict)) or (
        isinstance(old, CommentedSeq) and isinstance(new, list))


def _replace_block(tree: Any, text: str, parent: CommentedMap, key: str, value: Any) -> str:
    """Replace a list or mapping in place, so the comments of what stays stay, and the comment lines
    that close the block (the commented hardware examples under `sensors:`) survive even when the
    item that held them is gone."""
    try:
        key_line = parent.lc.key(key)[0]
    except (KeyError, TypeError, AttributeError):  # a key this very edit created: no comments yet
        key_line = None
    tail = _closing_comments(text, key_line) if key_line is not None else []
    value = _commented(value)
    if any(ln.strip() for ln in tail):
        _detach(parent, key, tail)  # taken off whatever item holds them, put back below the last one
    if value and not parent[key]:  # `key: []` / `key: {}` filled in: written as a block from now on
        if hasattr(value, "fa"):
            value.fa.set_block_style()
        parent[key] = value
    elif value:
        _merge(parent[key], value)
    else:  # an emptied block list or mapping can only be written `[]` / `{}`
        parent[key] = value
    if not any(ln.strip() for ln in tail):
        return dump(tree, text)
    if value:
        _attach_after_last(parent[key], tail)
    else:
        _attach_after_key(parent, key, tail)
    return dump(tree, text)


def _commented(value: Any) -> Any:
    """Plain dicts and lists as ruamel's own nodes, which can carry comments."""
    if isinstance(value, dict) and not isinstance(value, CommentedMap):
        return CommentedMap((k, _commented(v)) for k, v in value.items())
    if isinstance(value, list) and not isinstance(value, CommentedSeq):
        seq = CommentedSeq(_commented(v) for v in value)
        if not any(isinstance(v, dict) for v in value):
            seq.fa.set_flow_style()  # points and number lists on one line: [[0, 260], [640, 260], …]
        return seq
    return value


def _merge(old: Any, new: Any) -> None:
    """Make `old` equal to `new`, changing only what differs (kept nodes keep their comments)."""
    if isinstance(old, CommentedMap):
        for k in [k for k in old if k not in new]:
            del old[k]
        for k, v in new.items():
            if k in old and _same_kind(old[k], v):
                _merge(old[k], v)
            elif k not in old or old[k] != v:
                old[k] = v
        return
    for i, v in enumerate(new):
        if i >= len(old):
            old.append(v)
        elif _same_kind(old[i], v):
            _merge(old[i], v)
        elif old[i] != v:
            old[i] = v
    del old[len(new):]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _closing_comments(text: str, key_line: int) -> list[str]:
    """The comment lines (with blank lines among them) after the last value of the block whose key
    is on line `key_line` (0-based), indented deeper than its key, before the next key."""
    lines = text.splitlines()
    base = _indent(lines[key_line])
    end = len(lines)
    for n in range(key_line + 1, len(lines)):
        stripped = lines[n].strip()
        if stripped and not stripped.startswith("#") and _indent(lines[n]) <= base:
            end = n
            break
    block = lines[key_line + 1:end]
    while block and (not block[-1].strip() or (block[-1].lstrip().startswith("#") and _indent(block[-1]) <= base)):
        block.pop()  # blank lines and comments at the key's level belong to what follows
    tail: list[str] = []
    for line in reversed(block):
        if line.strip() and not line.lstrip().startswith("#"):
            break
        tail.insert(0, line)
    while tail and not tail[0].strip():
        tail.pop(0)
    if tail:  # keep the blank lines that separated the block from the next key
        tail += [""] * (len(lines[key_line + 1:end]) - len(block))
    return tail


def _detach(parent: CommentedMap, key: str, lines: list[str]) -> None:
    """Remove the comment lines `lines` from the tokens of parent[key]'s block, wherever ruamel hung them."""
    first = next(ln.strip() for ln in lines if ln.strip())
    wanted = {ln.strip() for ln in lines if ln.strip()}

    def cut(token: Any) -> Any:
        if not isinstance(token, CommentToken) or first not in token.value:
            return token
        kept = []
        for ln in token.value.split("\n"):
            if ln.strip() == first:
                break
            kept.append(ln)
        value = "\n".join(kept).rstrip(" ")
        if not value.strip():
            return None
        token.value = value if value.endswith("\n") else value + "\n"
        return token

    def clean(slot: Any) -> Any:
        if isinstance(slot, list):
            out = [clean(t) for t in slot if not (isinstance(t, CommentToken) and t.value.strip() in wanted)]
            return out
        return cut(slot)

    def walk(node: Any) -> None:
        if not isinstance(node, (CommentedMap, CommentedSeq)):
            return
        node.ca.items.update({k: clean(v) for k, v in node.ca.items.items()})
        if getattr(node.ca, "end", None):
            node.ca.end = clean(node.ca.end)
        children = node.values() if isinstance(node, CommentedMap) else node
        for child in children:
            walk(child)

    entry = parent.ca.items.get(key)
    if entry:
        parent.ca.items[key] = clean(entry)
    walk(parent[key])


def _attach_after_key(parent: CommentedMap, key: str, lines: list[str]) -> None:
    """Comment lines after `key: []`, behind the key's own end-of-line comment if it has one."""
    entry = parent.ca.items.setdefault(key, [None, None, None, None])
    eol = entry[2] if len(entry) > 2 else None
    text = "".join(ln + "\n" for ln in lines)
    if eol is not None:
        entry[2] = CommentToken(eol.value.rstrip("\n") + "\n" + text, eol.start_mark, None)
    else:
        entry[2] = CommentToken("\n" + text, CommentMark(0), None)


def _attach_after_last(node: Any, lines: list[str]) -> None:
    """Hang comment lines after the last item of a list or the last key of a mapping."""
    value = "\n" + "".join(ln + "\n" for ln in lines)
    if isinstance(node, CommentedSeq) and node:
        last = len(node) - 1
        if isinstance(node[last], (CommentedMap, CommentedSeq)) and not node[last].fa.flow_style() and node[last]:
            return _attach_after_last(node[last], lines)
        node.ca.items[last] = [CommentToken(value, CommentMark(0), None), None]
    elif isinstance(node, CommentedMap) and node:
        last = list(node)[-1]
        if isinstance(node[last], (CommentedMap, CommentedSeq)) and not node[last].fa.flow_style() and node[last]:
            return _attach_after_last(node[last], lines)
        node.ca.items[last] = [None, None, CommentToken(value, CommentMark(0), None), None]


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


def _read_styled(path: Path) -> tuple[str, str, str]:
    """(text with \\n line ends and no BOM, the BOM or "", the file's line end) so an edit keeps both:
    a file saved by a Windows editor stays as that editor wrote it."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            raw = f.read()
    except FileNotFoundError:
        raise ConfigError([_("{path}: no such config file").format(path=path)]) from None
    bom = "\ufeff" if raw.startswith("\ufeff") else ""
    raw = raw[len(bom):]
    newline = "\r\n" if "\r\n" in raw else "\n"
    return raw.replace("\r\n", "\n"), bom, newline


def _edit_file(path: Path, changes: list[tuple[str, Any]], *, remove: bool = False) -> None:
    """Apply the changes in order, validate the result once, write it once (or not at all)."""
    path = Path(path)
    text, bom, newline = _read_styled(path)
    for dotted, value in changes:
        text = edited_text(text, dotted, value, remove=remove, name=str(path))
    write_validated(path, bom + text.replace("\n", newline))


def set_key(path: Path, dotted: str, value: Any) -> None:
    """Set one key (a Python value, or text parsed as YAML via parse_value) and write the file safely."""
    _edit_file(path, [(dotted, value)])


def set_keys(path: Path, changes: list[tuple[str, Any]]) -> None:
    """Set several keys at once: the site template only validates once its device id, site and
    camera are all set, so they are changed together and the file checked as a whole."""
    _edit_file(path, changes)


def unset_key(path: Path, dotted: str) -> None:
    _edit_file(path, [(dotted, None)], remove=True)


def restore_backup(path: Path, n: int = 1) -> Path:
    """Put back the n-th newest backup (1 = newest). The current file is backed up first."""
    backups = list_backups(path)
    if not 1 <= n <= len(backups):
        raise ConfigError([_("{path}: no backup number {n} (there are {count})").format(path=path, n=n, count=len(backups))])
    chosen = backups[n - 1]
    text = chosen.read_text(encoding="utf-8")
    write_validated(Path(path), text)
    return chosen
