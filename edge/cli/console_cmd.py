"""`gedge console`: the maintenance console, a local web page beside the agent; `gedge console passwd`."""
from __future__ import annotations

import getpass
import logging
import sys

from ..i18n import _
from . import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, config_arg, print_problems

log = logging.getLogger("edge.console")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8620


def register(sub, common) -> None:
    p = sub.add_parser("console", parents=[common], help=_("the maintenance console: the room on a web page"),
                       description=_("Serve the maintenance console (zones on the camera picture, live sensors, "
                                     "incidents, tests) for the agent that runs on this config. It listens on "
                                     "127.0.0.1 unless --host says otherwise; any other address needs a password "
                                     "first (`gedge console passwd`)."))
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=_("address to listen on (default 127.0.0.1; 0.0.0.0: the LAN too, with a password)"))
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=_("port (default 8620)"))
    p.set_defaults(func=cmd_console)
    cmds = p.add_subparsers(dest="console_command", metavar="ACTION")
    s = cmds.add_parser("passwd", parents=[common],
                        help=_("set the console password (asked twice; stored as a scrypt hash beside the config)"))
    s.set_defaults(func=cmd_passwd)


def _config_path(args):
    from ..config import ConfigError, load_file, locate

    source = locate(config_arg(args))
    if source.origin == "bundled":
        print(_("no config file: the console edits the agent's config; pass --config PATH or create "
                "/etc/garbage-edge/config.yaml"), file=sys.stderr)
        return None
    try:
        load_file(source.path)
    except ConfigError as e:
        print_problems(e)
        return None
    return source.path


def cmd_console(args) -> int:
    import uvicorn

    from ..console.app import create_app
    from ..console.auth import has_password, is_loopback, password_path

    path = _config_path(args)
    if path is None:
        return EXIT_USAGE
    if not 0 < args.port < 65536:
        print(_("gedge console: --port must be 1-65535"), file=sys.stderr)
        return EXIT_USAGE
    loopback = is_loopback(args.host) or args.host == "localhost"
    if not loopback and not has_password(password_path(path)):
        print(_("gedge console: listening on {host} lets the LAN in: set a password first "
                "(`sudo gedge console passwd`)").format(host=args.host), file=sys.stderr)
        return EXIT_USAGE
    if getattr(args, "verbose", 0) == 0:
        logging.getLogger().setLevel(logging.INFO)
    app = create_app(path)
    log.info("console for %s on http://%s:%d/", path, f"[{args.host}]" if ":" in args.host else args.host, args.port)
    try:
        # proxy_headers off: the client's address is the TCP peer's, never a header's claim
        uvicorn.run(app, host=args.host, port=args.port, proxy_headers=False, server_header=False,
                    log_level="warning", access_log=False, lifespan="off")
    except OSError as e:
        print(_("gedge console: cannot listen on {host}:{port}: {reason}").format(
            host=args.host, port=args.port, reason=e.strerror or e), file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def cmd_passwd(args) -> int:
    from ..console.auth import MIN_PASSWORD, password_path, set_password

    path = _config_path(args)
    if path is None:
        return EXIT_USAGE
    target = password_path(path)
    if sys.stdin.isatty():
        password = getpass.getpass(_("new console password: "))
        again = getpass.getpass(_("the same again: "))
        if password != again:
            print(_("gedge console passwd: the two passwords differ; nothing changed"), file=sys.stderr)
            return EXIT_USAGE
    else:  # scripts and tests: the password on stdin's first line
        password = sys.stdin.readline().rstrip("\n")
    if len(password) < MIN_PASSWORD:
        print(_("the password needs at least 8 characters"), file=sys.stderr)
        return EXIT_USAGE
    try:
        set_password(target, password)
    except OSError as e:
        print(_("{path}: cannot write: {reason} (run with sudo?)").format(path=target, reason=e.strerror or e),
              file=sys.stderr)
        return EXIT_FAILURE
    print(_("console password stored (as a hash) in {path}; restart the console to log everyone out").format(
        path=target), file=sys.stderr)
    return EXIT_OK
