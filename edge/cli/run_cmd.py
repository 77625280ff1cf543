"""`gedge run`: the agent itself, as systemd starts it."""
from __future__ import annotations

import logging
import os
import sys

from ..config import ConfigError, locate
from ..i18n import _, set_language
from . import config_arg, print_problems

log = logging.getLogger("edge.run")


def register(sub, common) -> None:
    p = sub.add_parser("run", parents=[common], help=_("run the agent (what systemd starts)"),
                       description=_("Run the agent: camera, sensors, voice, relays, incidents and uplink. "
                                   "SIGTERM stops it cleanly; SIGHUP reloads the config (kept when invalid)."))
    p.add_argument("--duration", type=float, metavar="S", help=_("stop after S seconds (testing)"))
    p.add_argument("--allow-missing-token", action="store_true",
                   help=_("send without a platform token when none can be read (development receivers only)"))
    p.add_argument("--simulation", action="store_true",
                   help=_("run on purpose on the simulated room (sim: camera, sim sensors); "
                          "without it such a config is refused, so a box never reports made-up incidents"))
    p.set_defaults(func=cmd_run)


def cmd_run(args) -> int:
    from ..runtime.memory import limit_malloc_arenas
    from ..runtime.service import Service, StartError

    limit_malloc_arenas()

    if os.environ.get("JOURNAL_STREAM"):
        # under systemd everything this process prints is the journal, and logs stay English
        # (a config's device.ui_lang does not change that; `gedge run` in a terminal follows it)
        set_language("en")
    if getattr(args, "verbose", 0) == 0:
        logging.getLogger().setLevel(logging.INFO)  # a service logs what it does
    source = locate(config_arg(args))
    service = Service(source.path, allow_missing_token=args.allow_missing_token, simulation=args.simulation)
    service.install_signal_handlers()
    try:
        return service.run(duration_s=args.duration)
    except ConfigError as e:
        return print_problems(e)
    except StartError as e:
        print(_("gedge run: {reason}").format(reason=e), file=sys.stderr)
        return e.exit_code
