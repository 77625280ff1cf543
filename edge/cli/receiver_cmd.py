"""`gedge receiver`: run the reference platform server; `gedge receiver list`: what arrived."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import signal
import sys
from pathlib import Path

log = logging.getLogger("edge.receiver")


def register(sub, common) -> None:
    p = sub.add_parser(
        "receiver", parents=[common],
        help="reference platform server (development, tests, small deployments)",
        description="Serve the platform API (POST /v1/incidents, PUT /v1/incidents/ID/snapshot, POST /v1/telemetry) "
                    "under any path prefix, storing what arrives in SQLite. `gedge receiver list` shows it.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8730, help="port (default 8730; 0 picks a free one)")
    p.add_argument("--db", default="receiver.sqlite", metavar="PATH", help="database file (default ./receiver.sqlite)")
    p.add_argument("--token-file", metavar="F", help="file holding the bearer token callers must send; none: accept any")
    p.add_argument("--faults", metavar="LIST", help="testing: answer the next requests with these faults, "
                   "comma separated: 500, 503, 429:SECONDS (Retry-After), 401, timeout:SECONDS, drop")
    p.add_argument("--fault-rate", type=float, metavar="P", help="testing: with --faults, pick a random fault for "
                   "this share (0..1) of requests instead of using the list once in order")
    p.set_defaults(func=_serve)
    lsub = p.add_subparsers(dest="receiver_command", metavar="SUBCOMMAND")
    lp = lsub.add_parser("list", parents=[common], help="show the incidents (or telemetry) that arrived")
    lp.add_argument("--db", default=argparse.SUPPRESS, metavar="PATH", help="database file (default ./receiver.sqlite)")
    lp.add_argument("--json", action="store_true", help="one JSON object per line")
    lp.add_argument("--telemetry", action="store_true", help="show the newest telemetry documents instead")
    lp.add_argument("--limit", type=int, default=100, help="telemetry documents to show (default 100)")
    lp.set_defaults(func=_list)


def _serve(args) -> int:
    from ..receiver import FaultPlan, ReceiverServer, ReceiverStore

    token = None
    if args.token_file:
        try:
            token = Path(args.token_file).read_text(encoding="utf-8").strip()
        except OSError as e:
            print(f"gedge receiver: cannot read token file {args.token_file}: {e.strerror}", file=sys.stderr)
            return 2
        if not token:
            print(f"gedge receiver: token file {args.token_file} is empty", file=sys.stderr)
            return 2
    faults = None
    if args.faults:
        try:
            faults = FaultPlan(args.faults.split(","), args.fault_rate)
        except ValueError as e:
            print(f"gedge receiver: {e}", file=sys.stderr)
            return 2
    try:
        store = ReceiverStore(args.db)
        server = ReceiverServer(args.host, args.port, store, token, faults)
    except OSError as e:
        print(f"gedge receiver: cannot listen on {args.host}:{args.port}: {e.strerror or e}", file=sys.stderr)
        return 1
    if token is None:
        log.warning("no --token-file: accepting requests from anyone")
    signal.signal(signal.SIGTERM, _terminate)  # systemd / kill: stop cleanly like Ctrl-C
    print(f"gedge receiver: listening on http://{args.host}:{server.port}/api (db {args.db})", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        store.close()
    return 0


def _terminate(signum, frame):
    raise KeyboardInterrupt


def _list(args) -> int:
    from ..receiver import ReceiverStore

    if not Path(args.db).is_file():
        print(f"gedge receiver list: no database at {args.db}", file=sys.stderr)
        return 1
    store = ReceiverStore(args.db)
    try:
        if args.telemetry:
            rows = store.telemetry(args.limit)
            for r in rows:
                if args.json:
                    print(json.dumps({"received": r["received"], **r["doc"]}, ensure_ascii=False))
                else:
                    d = r["doc"]
                    print(f"{_when(r['received'])}  {d.get('device_id', '?'):<20} {json.dumps(d.get('readings', {}), ensure_ascii=False)}")
            if not args.json:
                print(f"{len(rows)} telemetry document(s)")
            return 0
        rows = store.incidents()
        if args.json:
            for r in rows:
                print(json.dumps({"received": r["received"], "arrivals": r["arrivals"],
                                  "snapshot_received": r["snapshot_sha256"] is not None, **r["doc"]}, ensure_ascii=False))
            return 0
        if rows:
            print(f"{'received':<19}  {'id':<36}  {'rev':>3}  {'type':<15}  {'state':<8}  {'device':<20}  subject")
        for r in rows:
            d = r["doc"]
            subj = ",".join(f"{k}={v}" for k, v in d.get("subject", {}).items() if v)
            pic = " +jpeg" if r["snapshot_sha256"] else ""
            print(f"{_when(r['received']):<19}  {d['id']:<36}  {d['rev']:>3}  {d['type']:<15}  {d['state']:<8}  "
                  f"{d['device_id']:<20}  {subj}{pic}")
        print(f"{len(rows)} incident(s)")
        return 0
    finally:
        store.close()


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")
