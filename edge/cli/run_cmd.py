"""`gedge run`: the agent itself, as systemd starts it."""
from __future__ import annotations

import logging
import sys

from ..config import ConfigError, locate
from . import config_arg, print_problems

log = logging.getLogger("edge.run")


def register(sub, common) -> None:
    p = sub.add_parser("run", parents=[common], help="run the agent (what systemd starts)",
                       description="Run the agent: camera, sensors, voice, relays, incidents and uplink. "
                                   "SIGTERM stops it cleanly; SIGHUP reloads the config (kept when invalid).")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (testing)")
    p.add_argument("--allow-missing-token", action="store_true",
                   help="send without a platform token when none can be read (development receivers only)")
    p.set_defaults(func=cmd_run)


def cmd_run(args) -> int:
    from ..runtime.memory import limit_malloc_arenas
    from ..runtime.service import Service, StartError

    limit_malloc_arenas()

    if getattr(args, "verbose", 0) == 0:
        logging.getLogger().setLevel(logging.INFO)  # a service logs what it does
    source = locate(config_arg(args))
    service = Service(source.path, allow_missing_token=args.allow_missing_token)
    service.install_signal_handlers()
    try:
        return service.run(duration_s=args.duration)
    except ConfigError as e:
        return print_problems(e)
    except StartError as e:
        print(f"gedge run: {e}", file=sys.stderr)
        return e.exit_code
