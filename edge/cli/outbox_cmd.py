"""`gedge outbox`: what waits for the platform, and the dead letters."""
from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

from ..i18n import _


def register(sub, common) -> None:
    p = sub.add_parser("outbox", parents=[common], help=_("pending uploads and dead letters"),
                       description=_("Inspect the durable outbox (incidents and telemetry waiting for the platform) "
                                     "and its dead letters (permanently refused items)."))
    osub = p.add_subparsers(dest="outbox_command", metavar="SUBCOMMAND")

    def add(name, help_, func):
        sp = osub.add_parser(name, parents=[common], help=help_)
        sp.add_argument("--db", metavar="PATH", help=_("outbox database (default: <storage.state_dir>/outbox.sqlite)"))
        sp.add_argument("--json", action="store_true", help=_("machine-readable output"))
        sp.set_defaults(func=func)
        return sp

    add("status", _("counts, oldest pending item, last success and error per destination"), _status)
    sp = add("list", _("items waiting to be sent, oldest first"), _list)
    sp.add_argument("--limit", type=int, default=100)
    sp = add("dead", _("dead letters: items the platform refused, with status and response"), _dead)
    sp.add_argument("--limit", type=int, default=100)
    sp = add("retry", _("put dead letters back in the queue (all, or the given numbers)"), _retry)
    sp.add_argument("seq", nargs="*", type=int, help=_("dead-letter numbers (as `gedge outbox dead` shows); none: all"))
    sp = add("purge", _("delete dead letters for good (all, or the given numbers)"), _purge)
    sp.add_argument("seq", nargs="*", type=int, help=_("dead-letter numbers; none: all"))
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
        print(_("gedge outbox: no outbox at {path} (the agent has not run yet?)").format(path=path), file=sys.stderr)
        return None, 1
    from ..outbox import OutboxDamaged

    try:
        return Outbox(path, dests=(), recover=False), 0
    except OutboxDamaged as e:  # looked at, never changed: the agent moves it aside at its start
        print(_("gedge outbox: {path} is damaged ({problem}); the agent moves it aside and starts a fresh one "
                "when it starts").format(path=path, problem=e), file=sys.stderr)
        return None, 1


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else _("never")


def _status(args) -> int:
    box, rc = _open(args)
    if box is None:
        return rc
    with _closing(box):
        s = box.stats()
    if args.json:
        print(json.dumps(s, ensure_ascii=False))
        return 0
    print(_("outbox {path}").format(path=s["path"]))
    print("  " + _("pending {pending}   dead letters {dead}   telemetry backlog {backlog}   open incidents {open}").format(
        pending=s["pending"], dead=s["dead_letters"], backlog=s["telemetry_backlog"], open=s["open_incidents"]))
    for dest, d in s["destinations"].items():
        age = (_(", oldest waiting {seconds:.0f} s").format(seconds=d["oldest_pending_age_s"])
               if d["oldest_pending_age_s"] is not None else "")
        print("  " + _("{dest}: pending {pending}{age}; dead {dead}; delivered {delivered}; last ok {last_ok}").format(
            dest=dest, pending=d["pending"], age=age, dead=d["dead_letters"], delivered=d["delivered_total"],
            last_ok=_when(d["last_ok"])))
        if d["last_error"]:
            print("    " + _("last error {when}: {error}").format(when=_when(d["last_error"].get("at")),
                                                                  error=d["last_error"].get("error")))
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
            err = "  " + _("last error: {error}").format(error=r["last_error"]) if r["last_error"] else ""
            print(f"#{r['seq']:<7} {r['dest']:<5} {r['kind']:<9} {r['incident_id']} rev {r['rev']}  "
                  + _("queued {when}  attempts {attempts}").format(when=_when(r["created"]), attempts=r["attempts"]) + err)
    if not args.json:
        print(_("{n} pending item(s)").format(n=len(rows)))
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
            print(f"#{r['seq']:<7} {r['dest']:<5} {what}  "
                  + _("status {status}  failed {when}  attempts {attempts}").format(
                      status=r["status"], when=_when(r["failed_at"]), attempts=r["attempts"]))
            if r["response"]:
                print("         " + _("response: {text}").format(text=" ".join(r["response"].split())[:300]))
    if not args.json:
        print(_("{n} dead letter(s)").format(n=len(rows)) + (_("; `gedge outbox retry` re-queues them") if rows else ""))
    return 0


def _retry(args) -> int:
    box, rc = _open(args)
    if box is None:
        return rc
    with _closing(box):
        unknown = _not_dead(box, args.seq)
        n = box.retry_dead(args.seq or None)
    print(json.dumps({"requeued": n}) if args.json else _("{n} dead letter(s) back in the queue").format(n=n))
    return _report_unknown(unknown)


def _purge(args) -> int:
    box, rc = _open(args)
    if box is None:
        return rc
    with _closing(box):
        unknown = _not_dead(box, args.seq)
        n = box.purge_dead(args.seq or None)
    print(json.dumps({"purged": n}) if args.json else _("{n} dead letter(s) deleted").format(n=n))
    return _report_unknown(unknown)


def _not_dead(box, seqs: list[int]) -> list[int]:
    """The asked-for numbers that are no dead letter (a typo, or retried already)."""
    if not seqs:
        return []
    known = {r["seq"] for r in box.dead_letters(limit=1_000_000)}
    return [s for s in seqs if s not in known]


def _report_unknown(unknown: list[int]) -> int:
    """Exit 1 when a number named no dead letter, saying which and where to look."""
    if not unknown:
        return 0
    print(_("no dead letter numbered {numbers}: `gedge outbox dead` lists them").format(
        numbers=", ".join(f"#{s}" for s in unknown)), file=sys.stderr)
    return 1


class _closing:
    def __init__(self, box):
        self.box = box

    def __enter__(self):
        return self.box

    def __exit__(self, *exc):
        self.box.close()
        return False
