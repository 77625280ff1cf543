"""Read a YAML config, validate it, and explain every problem with its key path and line."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from ..i18n import _, use_config_language
from ..paths import CONFIG_ENV, DEFAULT_CONFIG_PATH, bundled_default_config
from . import messages
from .messages import SECRET_WORDS  # noqa: F401  (where other modules look for it)
from .schema import Config, Loc, cross_check


class ConfigError(Exception):
    """A config that cannot be used. `problems` holds one human line per problem."""

    def __init__(self, problems: list[str], details: list[tuple[str | None, str]] | None = None):
        super().__init__("\n".join(problems))
        self.problems = problems
        # per problem (key path such as "zones.floor", or None; the message without file and line),
        # for callers that show a problem next to its field (the console)
        self.details = details if details is not None else [(None, p) for p in problems]


@dataclass(frozen=True)
class ConfigSource:
    path: Path
    origin: str  # "--config", "$GARBAGE_EDGE_CONFIG", "default" or "bundled"


def locate(cli_path: str | None = None) -> ConfigSource:
    """Which file to use: --config, then $GARBAGE_EDGE_CONFIG, then /etc, then the bundled default."""
    if cli_path:
        return ConfigSource(Path(cli_path), "--config")
    env = os.environ.get(CONFIG_ENV)
    if env:
        return ConfigSource(Path(env), f"${CONFIG_ENV}")
    if DEFAULT_CONFIG_PATH.exists():
        return ConfigSource(DEFAULT_CONFIG_PATH, "default")
    return ConfigSource(bundled_default_config(), "bundled")


def _represent_none(representer, _data):
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")


def round_trip_yaml(text: str | None = None) -> YAML:
    """A comment-preserving YAML; given the file's text, it keeps that file's indentation style."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.representer.add_representer(type(None), _represent_none)
    yaml.indent(**guess_indent(text or ""))
    return yaml


def guess_indent(text: str) -> dict[str, int]:
    """The file's own block indentation (mapping step and where `- ` sits), so edits don't reflow it."""
    mapping, offset = 2, 2
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    indents = [len(ln) - len(ln.lstrip(" ")) for ln in lines if not ln.lstrip().startswith("- ")]
    positive = [i for i in indents if i > 0]
    if positive:
        mapping = min(positive)
    for prev, ln in zip(lines, lines[1:]):
        if ln.lstrip().startswith("- ") and prev.rstrip().endswith(":") and not prev.lstrip().startswith("- "):
            offset = max(0, (len(ln) - len(ln.lstrip(" "))) - (len(prev) - len(prev.lstrip(" "))))
            break
    return {"mapping": mapping, "sequence": offset + 2, "offset": offset}


def parse_yaml(text: str, name: str) -> Any:
    """Round-trip parse (comments and line numbers kept); syntax errors name line and column."""
    try:
        data = round_trip_yaml().load(text)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        problem = e.problem or e.context
        tabs = messages.tab_lines(text)
        if tabs:  # the parser's "found character '\t' that cannot start any token" helps nobody
            where, problem = f"{name}:{tabs[0][0]}:{tabs[0][1]}", messages.tab_problem(tabs)
        raise ConfigError([_("{where} YAML syntax error: {problem}").format(where=where, problem=problem)]) from None
    if data is None:
        data = CommentedMap()
    check_expansion(data, name)
    if not isinstance(data, dict):
        raise ConfigError([_("{name}:1 the file must hold a mapping of sections (device:, camera:, …)").format(name=name)])
    return data


MAX_VALUES = 100_000  # a real config holds a few thousand values; aliases must not multiply them
MAX_NESTING = 40


def check_expansion(root: Any, name: str) -> None:
    """Refuse a file whose aliases expand it beyond MAX_VALUES values or into a loop.

    Anchors and aliases share one object in the loaded tree, so parsing is cheap; it is every
    later walk (validation, `config show`) that would expand nine aliases of nine aliases of …
    into billions of values. Counting the expanded values first costs at most MAX_VALUES steps."""
    count = 0
    stack: list[tuple[Any, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise ConfigError([_("{name}: the file expands to more than {n} values through its aliases (*name): "
                                 "write the values out instead").format(name=name, n=MAX_VALUES)])
        if depth > MAX_NESTING:
            raise ConfigError([_("{name}: nested more than {n} levels deep (an alias that contains itself?)")
                               .format(name=name, n=MAX_NESTING)])
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


def to_plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    for t in (int, float, str):
        if isinstance(node, t):
            return t(node)
    return node


def line_of(root: Any, loc: Loc) -> int | None:
    """1-based line of the deepest node of `loc` present in the round-trip tree."""
    node, line = root, None
    for part in loc:
        try:
            if isinstance(node, CommentedMap) and part in node:
                line = node.lc.key(part)[0] + 1
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
                line = node.lc.item(part)[0] + 1
                node = node[part]
            else:
                break
        except (AttributeError, KeyError, TypeError):
            break
    if line is None and isinstance(root, CommentedMap) and root.lc.line is not None:
        line = root.lc.line + 1
    return line


def format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _message(err: dict, loc: Loc) -> str:
    known = messages.known_keys_at(Config, loc) if err["type"] == "extra_forbidden" else None
    return messages.describe(err, known)


def _clean_loc(loc: tuple) -> Loc:
    # pydantic adds the names of tagged/function validators to the path; keep only keys and indexes
    return tuple(p for p in loc if isinstance(p, int) or not ("[" in p or "-" in p and p.startswith("function")))


def validate_text(text: str, name: str = "config.yaml", base_dir: Path | None = None) -> tuple[Config, Any]:
    """Validate YAML text. Returns (config, round-trip tree); raises ConfigError listing every problem."""
    tree = parse_yaml(text, name)
    if not tree:  # all defaults would be the simulated room under a made-up name: never a box's config
        raise ConfigError([_("{name}:1 the file is empty: a box needs at least its device id, site and camera "
                             "(start from `gedge config template`)").format(name=name)])
    device = tree.get("device")
    if isinstance(device, dict) and isinstance(device.get("ui_lang"), str):
        use_config_language(device["ui_lang"])  # even this file's problems are told in its language
    problems: list[str] = []
    details: list[tuple[str | None, str]] = []
    try:
        cfg = Config.model_validate(to_plain(tree))
    except ValidationError as e:
        for err in e.errors():
            loc = _clean_loc(err["loc"])
            line = line_of(tree, loc)
            msg = _message(err, loc)
            problems.append(f"{name}:{line or 1} {format_loc(loc)}: {msg}")
            details.append((format_loc(loc), msg))
        raise ConfigError(problems, details) from None
    for loc, msg in cross_check(cfg, base_dir):
        problems.append(f"{name}:{line_of(tree, loc) or 1} {format_loc(loc)}: {msg}")
        details.append((format_loc(loc), msg))
    if problems:
        raise ConfigError(problems, details)
    return cfg, tree


def load_file(path: Path) -> Config:
    text = read_config_text(path)
    cfg, _tree = validate_text(text, str(path), path.parent)
    return cfg


def read_config_text(path: Path) -> str:
    """The file's text as written (line ends kept); a missing, unreadable or non-UTF-8 file
    raises ConfigError with what to do about it."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError([_("{path}: no such config file").format(path=path)]) from None
    except OSError as e:
        raise ConfigError([_("{path}: cannot read: {reason}").format(path=path, reason=e.strerror or e)]) from None
    try:
        return messages.decode(data, str(path))
    except ValueError as e:
        raise ConfigError([str(e)]) from None


def load_config(cli_path: str | None = None) -> Config:
    return load_file(locate(cli_path).path)
