"""`gedge outbox`: what waits for the platform, and the dead letters."""
from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path


def register(sub, common) -> None:
    p = sub.add_parser("outbox", parents=[common], help="pending uploads and dead letters",
                       description="Inspect the durable outbox (incidents and telemetry waiting for the platform) "
                                   "and its dead letters (permanently refused items).")
    osub = p.add_subparsers(dest="outbox_command", metavar="SUBCOMMAND")

    def add(name, help_, func):
        sp = osub.add_parser(name, parents=[common], help=help_)
        sp.add_argument("--db", metavar="PATH", help="outbox database (default: <storage.state_dir>/outbox.sqlite)")
        sp.add_argument("--json", action="store_true", help="machine-readable output")
        sp.set_defaults(func=func)
        return sp

    add("status", "counts, oldest pending item, last success and error per destination", _status)
    sp = add("list", "items waiting to be sent, oldest first", _list)
    sp.add_argument("--limit", type=int, default=100)
    sp = add("dead", "dead letters: items the platform refused, with status and response", _dead)
    sp.add_argument("--limit", type=int, default=100)
    sp = add("retry", "put dead letters back in the queue (all, or the given numbers)", _retry)
    sp.add_argument("seq", nargs="*", type=int, help="dead-letter numbers (as `gedge outbox dead` shows); none: all")
    sp = add("purge", "delete dead letters for good (all, or the given numbers)", _purge)
    sp.add_argument("seq", nargs="*", type=int, help="dead-letter numbers; none: all")
    p.set_defaults(func=_status, db=None, json=False)


def _open(args):
    from ..outbox import Outbox, default_path

    path = getattr(args, "db", None)
    if not path:
        from ..config import ConfigError, load_config
        from . import config_arg, print_problems

        try:
            cfg = load_config(config_arg(args))
        except ConfigError as e:
            print_problems(e)
            return None, 2
        path = default_path(cfg)
    path = Path(path)
    if not path.is_file():
        print(f"gedge outbox: no outbox at {path} (the agent has not run yet?)", file=sys.stderr)
        return None, 1
    return Outbox(path, dests=()), 0


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "never"


def _status(args) -> int:
    box, rc = _open(args)
    if box is None:
        return rc
    with _closing(box):
        s = box.stats()
    if args.json:
        print(json.dumps(s, ensure_ascii=False))
        return 0
    print(f"outbox {s['path']}")
    print(f"  pending {s['pending']}   dead letters {s['dead_letters']}   telemetry backlog {s['telemetry_backlog']}"
          f"   open incidents {s['open_incidents']}")
    for dest, d in s["destinations"].items():
        age = f", oldest waiting {d['oldest_pending_age_s']:.0f} s" if d["oldest_pending_age_s"] is not None else ""
        print(f"  {dest}: pending {d['pending']}{age}; dead {d['dead_letters']}; delivered {d['delivered_total']}; "
              f"last ok {_when(d['last_ok'])}")
        if d["last_error"]:
            print(f"    last error {_when(d['last_error'].get('at'))}: {d['last_error'].get('error')}")
    return 0


def _list(args) -> int:
    box, rc = _open(args)
    if box is None:
        return rc
    with _closing(box):
        rows = box.list_pending(args.limit)
    for r in rows:
        if args.json:
            print(json.dumps(r, ensure_ascii=False))
        else:
            err = f"  last error: {r['last_error']}" if r["last_error"] else ""
            print(f"#{r['seq']:<7} {r['dest']:<5} {r['kind']:<9} {r['incident_id']} rev {r['rev']}  "
                  f"queued {_when(r['created'])}  attempts {r['attempts']}{err}")
    if not args.json:
        print(f"{len(rows)} pending item(s)")
    return 0


def _dead(args) -> int:
    box, rc = _open(args)
    if box is None:
        return rc
    with _closing(box):
        rows = box.dead_letters(args.limit)
    for r in rows:
        if args.json:
            print(json.dumps(r, ensure_ascii=False))
        else:
            what = "telemetry" if r["kind"] == "telemetry" else f"{r['kind']} {r['incident_id']} rev {r['rev']}"
            print(f"#{r['seq']:<7} {r['dest']:<5} {what}  status {r['status']}  failed {_when(r['failed_at'])}  "
                  f"attempts {r['attempts']}")
            if r["response"]:
                print(f"         response: {' '.join(r['response'].split())[:300]}")
    if not args.json:
        print(f"{len(rows)} dead letter(s)" + ("; `gedge outbox retry` re-queues them" if rows else ""))
    return 0


def _retry(args) -> int:
    box, rc = _open(args)
    if box is None:
        return rc
    with _closing(box):
        n = box.retry_dead(args.seq or None)
    print(json.dumps({"requeued": n}) if args.json else f"{n} dead letter(s) back in the queue")
    return 0 if n or not args.seq else 1


def _purge(args) -> int:
    box, rc = _open(args)
    if box is None:
        return rc
    with _closing(box):
        n = box.purge_dead(args.seq or None)
    print(json.dumps({"purged": n}) if args.json else f"{n} dead letter(s) deleted")
    return 0 if n or not args.seq else 1


class _closing:
    def __init__(self, box):
        self.box = box

    def __enter__(self):
        return self.box

    def __exit__(self, *exc):
        self.box.close()
        return False
