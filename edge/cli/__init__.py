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
from ..i18n import LANGUAGES, _, set_language
from . import parser_messages

# Command modules, in the order `gedge --help` lists them.
COMMAND_MODULES = (
    "config_cmd",
    "run_cmd",
    "status_cmd",
    "console_cmd",
    "doctor_cmd",
    "demo_cmd",
    "sensors_cmd",
    "voice_cmd",
    "relay_cmd",
    "outbox_cmd",
    "stats_cmd",
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
        self.exit(EXIT_USAGE, _("{prog}: error: {message}\n").format(prog=self.prog, message=message))


def common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", metavar="PATH", default=argparse.SUPPRESS,
        help=_("config file (default: $GARBAGE_EDGE_CONFIG, else /etc/garbage-edge/config.yaml, else the bundled default)"),
    )
    common.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help=_("more log output (-vv: debug)"))
    common.add_argument(
        "--lang", choices=LANGUAGES, default=argparse.SUPPRESS,
        help=_("language of the messages: zh (中文) or en (default: the config's device.ui_lang, else the locale)"),
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    common = common_options()
    parser = _Parser(
        prog="gedge",
        description=_("garbage-edge: smart garbage room agent and maintenance tool"),
        parents=[common],
        epilog=_("Run `gedge COMMAND --help` for a command's options. Exit codes: 0 ok, 1 failure, 2 usage/config error."),
    )
    parser.add_argument("--version", action="version", version=f"garbage-edge {__version__}",
                        help=_("show program's version number and exit"))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(f".{name}", __name__).register(sub, common)
    completion = sub.add_parser("completion", parents=[common], help=_("print the shell completion script"))
    completion.add_argument("shell", choices=["bash", "zsh", "fish"], nargs="?", default="bash")
    completion.set_defaults(func=_completion)
    return parser


def _completion(args) -> int:
    import argcomplete

    print(argcomplete.shellcode(["gedge", "garbage-edge"], shell=args.shell))
    return EXIT_OK


def setup_logging(verbosity: int) -> None:
    level = logging.WARNING - 10 * verbosity
    from ..logfmt import log_format

    # journald adds its own time stamps; under systemd (JOURNAL_STREAM set) leave them out
    logging.basicConfig(level=max(level, logging.DEBUG), format=log_format(), stream=sys.stderr)


def lang_in_argv(argv: list[str]) -> str | None:
    """The value of --lang before the parser exists, so that its help and errors use it too."""
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--lang" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--lang="):
            value = arg.split("=", 1)[1]
        else:
            continue
        if value in LANGUAGES:
            return value
    return None


def main(argv: list[str] | None = None) -> int:
    # --lang, else the locale; a config's device.ui_lang applies when the config is read
    set_language(lang_in_argv(sys.argv[1:] if argv is None else argv))
    parser_messages.install()
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
