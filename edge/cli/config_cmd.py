"""`gedge config …`: see, check and change the configuration on site."""
from __future__ import annotations

import difflib
import json
import sys
from pathlib import Path
from typing import Any

from ..config import Config, ConfigError, load_file, locate
from ..config.edit import list_backups, make_backup, parse_value, restore_backup, set_keys, split_key, unset_key
from ..config.loader import format_loc, round_trip_yaml
from ..config.schema import missing_files
from ..i18n import _
from ..paths import bundled_default_config
from . import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, config_arg, print_problems


def register(sub, common) -> None:
    p = sub.add_parser("config", parents=[common], help=_("show, check and change the configuration"))
    cmds = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)

    s = cmds.add_parser("path", parents=[common], help=_("which config file is used, and why"))
    s.set_defaults(func=cmd_path)

    s = cmds.add_parser("show", parents=[common], help=_("the effective configuration, defaults included"))
    s.add_argument("--json", action="store_true", help="as JSON")
    s.set_defaults(func=cmd_show)

    s = cmds.add_parser("get", parents=[common], help=_("one value, e.g. rules.bag_outside_bin.incident_after_s"))
    s.add_argument("key")
    s.add_argument("--json", action="store_true", help="as JSON")
    s.set_defaults(func=cmd_get)

    s = cmds.add_parser("set", parents=[common], help=_("change one value (validated, comments kept, backed up)"))
    s.add_argument("key")
    s.add_argument("value", help=_("read as YAML: 60, true, null, '[[0, 0], [10, 0], [10, 10]]', \"07:00\""))
    s.add_argument("more", nargs="*", metavar="KEY VALUE",
                   help=_("more keys and values, changed together and validated once (the site template "
                          "needs device.id, device.site.community, device.site.point_id and camera.source at once)"))
    s.set_defaults(func=cmd_set)

    s = cmds.add_parser("unset", parents=[common], help=_("remove a key from the file so its default applies"))
    s.add_argument("key")
    s.set_defaults(func=cmd_unset)

    s = cmds.add_parser("validate", parents=[common], help=_("check a file; one line per problem, exit 2 if any"))
    s.add_argument("file", nargs="?", help=_("file to check (default: the config in use)"))
    s.set_defaults(func=cmd_validate)

    s = cmds.add_parser("diff", parents=[common], help=_("what differs from the bundled defaults"))
    s.add_argument("--json", action="store_true", help="as JSON")
    s.set_defaults(func=cmd_diff)

    s = cmds.add_parser("backup", parents=[common], help=_("save a copy now, or list the copies kept"))
    s.add_argument("--list", action="store_true", help=_("list the backups, newest first"))
    s.set_defaults(func=cmd_backup)

    s = cmds.add_parser("restore", parents=[common], help=_("put back backup N (1 = newest, the default)"))
    s.add_argument("n", nargs="?", type=int, default=1)
    s.set_defaults(func=cmd_restore)

    s = cmds.add_parser("schema", parents=[common], help=_("JSON Schema of the config, for editors"))
    s.set_defaults(func=cmd_schema)

    s = cmds.add_parser("template", parents=[common],
                        help=_("print the site template (what `make install` writes): every key, but no "
                               "device id, site, camera, sensors or relay yet"))
    s.set_defaults(func=cmd_template)


def _load(args) -> tuple[Config, Path]:
    source = locate(config_arg(args))
    return load_file(source.path), source.path


def _effective(cfg: Config) -> dict[str, Any]:
    return cfg.model_dump(mode="json")


def _shown(cfg: Config) -> dict[str, Any]:
    """The whole config as `show` and `diff` print it: the camera URL's password masked (these
    views end up in screenshots); `config get camera.source` still prints it as written."""
    from hw.camera import redact

    data = _effective(cfg)
    data["camera"]["source"] = redact(data["camera"]["source"])
    return data


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
    state = _("exists") if source.path.exists() else _("missing")
    print(_("{path}\t(from {origin}, {state})").format(path=source.path, origin=source.origin, state=state))
    return EXIT_OK


def cmd_show(args) -> int:
    try:
        cfg, _path = _load(args)
    except ConfigError as e:
        return print_problems(e)
    if args.json:
        print(json.dumps(_shown(cfg), ensure_ascii=False, indent=2))
    else:
        _print_yaml(_shown(cfg))
    return EXIT_OK


def lookup(data: Any, key: str) -> Any:
    node = data
    parts = split_key(key)
    for i, part in enumerate(parts):
        if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node):
            node = node[part]
        elif isinstance(part, str) and isinstance(node, dict) and part in node:
            node = node[part]
        else:
            close = difflib.get_close_matches(str(part), list(node), n=1) if isinstance(node, dict) else []
            if close:
                fixed = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if j else p)
                                for j, p in enumerate([*parts[:i], close[0], *parts[i + 1:]]))
                raise ConfigError([_("{key}: no such key: did you mean {suggestion}?").format(key=key, suggestion=fixed)])
            raise ConfigError([_("{key}: no such key (see `gedge config show` or `gedge config schema`)").format(key=key)])
    return node


def cmd_get(args) -> int:
    try:
        cfg, _path = _load(args)
        _print_value(lookup(_effective(cfg), args.key), args.json)
    except ConfigError as e:
        return print_problems(e)
    return EXIT_OK


def _target(args) -> Path:
    source = locate(config_arg(args))
    if source.origin == "bundled":
        raise ConfigError([
            _("no config file to change: create one first, e.g. `install -D -m 644 {path} /etc/garbage-edge/config.yaml`, "
              "or pass --config PATH").format(path=source.path)
        ])
    return source.path


def _write_failed(path: Path, err: OSError) -> int:
    # e.g. not root on /etc/garbage-edge: one line, not a traceback; the file is as it was
    print(_("{path}: cannot write: {reason} (run with sudo?)").format(path=path, reason=err.strerror or err), file=sys.stderr)
    return EXIT_FAILURE


def cmd_set(args) -> int:
    if len(args.more) % 2:
        print(_("gedge config set: {key} has no value (give KEY VALUE pairs)").format(key=args.more[-1]),
              file=sys.stderr)
        return EXIT_USAGE
    pairs = [(args.key, args.value)] + list(zip(args.more[::2], args.more[1::2]))
    try:
        path = _target(args)
        set_keys(path, [(key, parse_value(value)) for key, value in pairs])
    except ConfigError as e:
        return print_problems(e)
    except OSError as e:
        return _write_failed(path, e)
    for key, value in pairs:
        print(f"{path}: {key} = {value}")
    return EXIT_OK


def cmd_unset(args) -> int:
    try:
        path = _target(args)
        unset_key(path, args.key)
    except ConfigError as e:
        return print_problems(e)
    except OSError as e:
        return _write_failed(path, e)
    print(_("{path}: {key} removed (its default applies)").format(path=path, key=args.key))
    return EXIT_OK


def cmd_validate(args) -> int:
    path = Path(args.file) if args.file else locate(config_arg(args)).path
    try:
        cfg = load_file(path)
        missing = missing_files(cfg, path.parent)  # what the agent would stop on at start
        if missing:
            raise ConfigError([f"{path}: {format_loc(loc)}: {msg}" for loc, msg in missing])
    except ConfigError as e:
        return print_problems(e)
    print(_("{path}: ok").format(path=path))
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
    now, base = flatten(_shown(current)), flatten(_shown(defaults))
    return [
        {"key": k, "default": base.get(k), "value": now.get(k)}
        for k in sorted(set(now) | set(base))
        if now.get(k) != base.get(k) or (k in now) != (k in base)
    ]


def cmd_diff(args) -> int:
    try:
        cfg, _path = _load(args)
        defaults = load_file(bundled_default_config())
    except ConfigError as e:
        return print_problems(e)
    rows = config_diff(cfg, defaults)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
    elif not rows:
        print(_("no differences from the bundled defaults"))
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
            raise ConfigError([_("{path}: no such config file").format(path=path)])
        print(make_backup(path))
    except ConfigError as e:
        return print_problems(e)
    except BrokenPipeError:
        raise  # the reader left (`config backup --list | head`): not a failed backup; main() ends quietly
    except OSError as e:
        print(_("backup failed: {reason}").format(reason=e.strerror or e), file=sys.stderr)
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
    print(_("{path}: restored from {backup}").format(path=path, backup=chosen))
    return EXIT_OK


def cmd_template(args) -> int:
    from ..config.template import site_template

    sys.stdout.write(site_template(bundled_default_config().read_text(encoding="utf-8")))
    return EXIT_OK


def cmd_schema(args) -> int:
    schema = Config.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "garbage-edge configuration"
    print(json.dumps(schema, ensure_ascii=False, indent=2))
    return EXIT_OK
