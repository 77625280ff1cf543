"""`gedge config …`: see, check and change the configuration on site."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ..config import Config, ConfigError, load_file, locate
from ..config.edit import list_backups, make_backup, parse_value, restore_backup, set_key, split_key, unset_key
from ..config.loader import round_trip_yaml
from ..paths import bundled_default_config
from . import EXIT_FAILURE, EXIT_OK, config_arg, print_problems


def register(sub, common) -> None:
    p = sub.add_parser("config", parents=[common], help="show, check and change the configuration")
    cmds = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)

    s = cmds.add_parser("path", parents=[common], help="which config file is used, and why")
    s.set_defaults(func=cmd_path)

    s = cmds.add_parser("show", parents=[common], help="the effective configuration, defaults included")
    s.add_argument("--json", action="store_true", help="as JSON")
    s.set_defaults(func=cmd_show)

    s = cmds.add_parser("get", parents=[common], help="one value, e.g. rules.bag_outside_bin.incident_after_s")
    s.add_argument("key")
    s.add_argument("--json", action="store_true", help="as JSON")
    s.set_defaults(func=cmd_get)

    s = cmds.add_parser("set", parents=[common], help="change one value (validated, comments kept, backed up)")
    s.add_argument("key")
    s.add_argument("value", help="read as YAML: 60, true, null, '[[0, 0], [10, 0], [10, 10]]', \"07:00\"")
    s.set_defaults(func=cmd_set)

    s = cmds.add_parser("unset", parents=[common], help="remove a key from the file so its default applies")
    s.add_argument("key")
    s.set_defaults(func=cmd_unset)

    s = cmds.add_parser("validate", parents=[common], help="check a file; one line per problem, exit 2 if any")
    s.add_argument("file", nargs="?", help="file to check (default: the config in use)")
    s.set_defaults(func=cmd_validate)

    s = cmds.add_parser("diff", parents=[common], help="what differs from the bundled defaults")
    s.add_argument("--json", action="store_true", help="as JSON")
    s.set_defaults(func=cmd_diff)

    s = cmds.add_parser("backup", parents=[common], help="save a copy now, or list the copies kept")
    s.add_argument("--list", action="store_true", help="list the backups, newest first")
    s.set_defaults(func=cmd_backup)

    s = cmds.add_parser("restore", parents=[common], help="put back backup N (1 = newest, the default)")
    s.add_argument("n", nargs="?", type=int, default=1)
    s.set_defaults(func=cmd_restore)

    s = cmds.add_parser("schema", parents=[common], help="JSON Schema of the config, for editors")
    s.set_defaults(func=cmd_schema)


def _load(args) -> tuple[Config, Path]:
    source = locate(config_arg(args))
    return load_file(source.path), source.path


def _effective(cfg: Config) -> dict[str, Any]:
    return cfg.model_dump(mode="json")


def _print_yaml(data: Any) -> None:
    yaml = round_trip_yaml()
    yaml.default_flow_style = None
    yaml.dump(data, sys.stdout)


def _print_value(value: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, str):
        print(value)
    elif isinstance(value, (dict, list)):
        _print_yaml(value)
    else:
        print(json.dumps(value))


def cmd_path(args) -> int:
    source = locate(config_arg(args))
    state = "exists" if source.path.exists() else "missing"
    print(f"{source.path}\t(from {source.origin}, {state})")
    return EXIT_OK


def cmd_show(args) -> int:
    try:
        cfg, _ = _load(args)
    except ConfigError as e:
        return print_problems(e)
    if args.json:
        print(json.dumps(_effective(cfg), ensure_ascii=False, indent=2))
    else:
        _print_yaml(_effective(cfg))
    return EXIT_OK


def lookup(data: Any, key: str) -> Any:
    node = data
    for part in split_key(key):
        if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node):
            node = node[part]
        elif isinstance(part, str) and isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise ConfigError([f"{key}: no such key (see `gedge config show` or `gedge config schema`)"])
    return node


def cmd_get(args) -> int:
    try:
        cfg, _ = _load(args)
        _print_value(lookup(_effective(cfg), args.key), args.json)
    except ConfigError as e:
        return print_problems(e)
    return EXIT_OK


def _target(args) -> Path:
    source = locate(config_arg(args))
    if source.origin == "bundled":
        raise ConfigError([
            f"no config file to change: create one first, e.g. `install -D -m 644 {source.path} /etc/garbage-edge/config.yaml`, "
            "or pass --config PATH"
        ])
    return source.path


def _write_failed(path: Path, err: OSError) -> int:
    # e.g. not root on /etc/garbage-edge: one line, not a traceback; the file is as it was
    print(f"{path}: cannot write: {err.strerror or err} (run with sudo?)", file=sys.stderr)
    return EXIT_FAILURE


def cmd_set(args) -> int:
    try:
        path = _target(args)
        set_key(path, args.key, parse_value(args.value))
    except ConfigError as e:
        return print_problems(e)
    except OSError as e:
        return _write_failed(path, e)
    print(f"{path}: {args.key} = {args.value}")
    return EXIT_OK


def cmd_unset(args) -> int:
    try:
        path = _target(args)
        unset_key(path, args.key)
    except ConfigError as e:
        return print_problems(e)
    except OSError as e:
        return _write_failed(path, e)
    print(f"{path}: {args.key} removed (its default applies)")
    return EXIT_OK


def cmd_validate(args) -> int:
    path = Path(args.file) if args.file else locate(config_arg(args)).path
    try:
        load_file(path)
    except ConfigError as e:
        return print_problems(e)
    print(f"{path}: ok")
    return EXIT_OK


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(data, dict) and data:
        for k, v in data.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(data, list) and data and all(isinstance(v, dict) for v in data):
        for i, v in enumerate(data):
            out.update(flatten(v, f"{prefix}[{i}]"))
    else:
        out[prefix] = data
    return out


def config_diff(current: Config, defaults: Config) -> list[dict[str, Any]]:
    now, base = flatten(_effective(current)), flatten(_effective(defaults))
    return [
        {"key": k, "default": base.get(k), "value": now.get(k)}
        for k in sorted(set(now) | set(base))
        if now.get(k) != base.get(k) or (k in now) != (k in base)
    ]


def cmd_diff(args) -> int:
    try:
        cfg, _ = _load(args)
        defaults = load_file(bundled_default_config())
    except ConfigError as e:
        return print_problems(e)
    rows = config_diff(cfg, defaults)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
    elif not rows:
        print("no differences from the bundled defaults")
    else:
        for r in rows:
            print(f"{r['key']}: {json.dumps(r['default'], ensure_ascii=False)} -> {json.dumps(r['value'], ensure_ascii=False)}")
    return EXIT_OK


def cmd_backup(args) -> int:
    try:
        path = _target(args)
        if args.list:
            for i, b in enumerate(list_backups(path), 1):
                print(f"{i}\t{b}")
            return EXIT_OK
        if not path.exists():
            raise ConfigError([f"{path}: no such config file"])
        print(make_backup(path))
    except ConfigError as e:
        return print_problems(e)
    except OSError as e:
        print(f"backup failed: {e}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def cmd_restore(args) -> int:
    try:
        path = _target(args)
        chosen = restore_backup(path, args.n)
    except ConfigError as e:
        return print_problems(e)
    except OSError as e:
        return _write_failed(path, e)
    print(f"{path}: restored from {chosen}")
    return EXIT_OK


def cmd_schema(args) -> int:
    schema = Config.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "garbage-edge configuration"
    print(json.dumps(schema, ensure_ascii=False, indent=2))
    return EXIT_OK
