"""`gedge`: the one command maintenance staff use on site.

Each command group lives in its own module with `register(subparsers, common)`; the module
sets `func` (taking the parsed args, returning the exit code) on its parsers.
Exit codes: 0 ok, 1 runtime failure, 2 usage or config error.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from .. import __version__

# Command modules, in the order `gedge --help` lists them.
COMMAND_MODULES = (
    "config_cmd",
    "run_cmd",
    "doctor_cmd",
    "demo_cmd",
    "sensors_cmd",
    "voice_cmd",
    "relay_cmd",
    "outbox_cmd",
    "receiver_cmd",
    "camera_cmd",
    "replay_cmd",
    "sim_cmd",
    "detect_cmd",
    "bench_cmd",
)

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own usage errors exit 2 too, with one clear line
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", metavar="PATH", default=argparse.SUPPRESS,
        help="config file (default: $GARBAGE_EDGE_CONFIG, else /etc/garbage-edge/config.yaml, else the bundled default)",
    )
    common.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help="more log output (-vv: debug)")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = common_options()
    parser = _Parser(
        prog="gedge",
        description="garbage-edge: smart garbage room agent and maintenance tool",
        parents=[common],
        epilog="Run `gedge COMMAND --help` for a command's options. Exit codes: 0 ok, 1 failure, 2 usage/config error.",
    )
    parser.add_argument("--version", action="version", version=f"garbage-edge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(f".{name}", __name__).register(sub, common)
    completion = sub.add_parser("completion", parents=[common], help="print the shell completion script")
    completion.add_argument("shell", choices=["bash", "zsh", "fish"], nargs="?", default="bash")
    completion.set_defaults(func=_completion)
    return parser


def _completion(args) -> int:
    import argcomplete

    print(argcomplete.shellcode(["gedge", "garbage-edge"], shell=args.shell))
    return EXIT_OK


def setup_logging(verbosity: int) -> None:
    level = logging.WARNING - 10 * verbosity
    # journald adds its own timestamps; under systemd (JOURNAL_STREAM set) leave them out
    fmt = "%(levelname)s %(name)s: %(message)s" if os.environ.get("JOURNAL_STREAM") else "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=max(level, logging.DEBUG), format=fmt, stream=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        import argcomplete

        argcomplete.autocomplete(parser)
    except ImportError:  # completion is a convenience, never a requirement
        pass
    args = parser.parse_args(argv)
    setup_logging(getattr(args, "verbose", 0))
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader left early (`gedge config schema | head`): no traceback, and point stdout
        # at /dev/null so the interpreter's final flush does not raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE


def print_problems(err) -> int:
    """Print a ConfigError's lines (one per problem) to stderr; returns the usage exit code."""
    for line in err.problems:
        print(line, file=sys.stderr)
    return EXIT_USAGE


def load_config_or_report(args):
    """The config that --config names (or the default), or None after printing its problems
    (the caller then exits with EXIT_USAGE)."""
    from ..config import ConfigError, load_config

    try:
        return load_config(config_arg(args))
    except ConfigError as e:
        print_problems(e)
        return None


def config_arg(args) -> str | None:
    """The --config value given on the command line, if any."""
    return getattr(args, "config", None)
