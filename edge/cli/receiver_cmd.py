"""`gedge receiver`: run the reference platform server; `list`: what arrived; `token`, `user`: who may."""
from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import logging
import signal
import sys
from pathlib import Path

from ..i18n import _

log = logging.getLogger("edge.receiver")

DEFAULT_TOKENS = "receiver.tokens"
DEFAULT_USERS = "receiver.users"


def port_number(text: str) -> int:
    """A TCP port for argparse: 0-65535 (bind() would raise OverflowError, not a usage error)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(_("not a port number: {value}").format(value=text)) from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(_("port {value} is out of range: use 1-65535 (0 picks a free one)")
                                         .format(value=port))
    return port


def register(sub, common) -> None:
    p = sub.add_parser(
        "receiver", parents=[common],
        help=_("reference platform server (development, tests, small deployments)"),
        description=_("Serve the platform API (POST /v1/incidents, PUT /v1/incidents/ID/snapshot, POST /v1/telemetry, "
                      "POST /v1/daily) under any path prefix, and the board at /board. Stores what arrives in SQLite "
                      "or PostgreSQL. `gedge receiver list` shows it; `gedge receiver token add DEVICE` lets a box in."),
    )
    p.add_argument("--host", default="127.0.0.1", help=_("address to listen on (default 127.0.0.1)"))
    p.add_argument("--port", type=port_number, default=8730, help=_("port (default 8730; 0 picks a free one)"))
    p.add_argument("--db", default="receiver.sqlite", metavar="PATH|URL",
                   help=_("SQLite file or postgresql:// URL (default ./receiver.sqlite)"))
    p.add_argument("--tokens", metavar="FILE", help=_("per-device tokens file (default ./receiver.tokens when it "
                                                      "exists); made by `gedge receiver token add`"))
    p.add_argument("--token-file", metavar="F", help=_("development: one token that any device may use"))
    p.add_argument("--users", metavar="FILE", help=_("board logins (default ./receiver.users when it exists); "
                                                     "made by `gedge receiver user add`"))
    p.add_argument("--max-connections", type=int, default=4096, metavar="N",
                   help=_("open connections beyond which requests get 503 (default 4096)"))
    p.add_argument("--header-timeout", type=float, default=10.0, metavar="S",
                   help=_("seconds a connection has to send a complete request head (default 10)"))
    p.add_argument("--body-timeout", type=float, default=30.0, metavar="S",
                   help=_("seconds a request has to send its whole body (default 30)"))
    p.add_argument("--tls-cert", metavar="PEM", help=_("serve HTTPS with this certificate (with --tls-key)"))
    p.add_argument("--tls-key", metavar="PEM", help=_("the certificate's private key"))
    p.add_argument("--faults", metavar="LIST", help=_("testing: answer the next requests with these faults, "
                   "comma separated: 500, 503, 429:SECONDS (Retry-After), 401, timeout:SECONDS, drop"))
    p.add_argument("--fault-rate", type=float, metavar="P", help=_("testing: with --faults, pick a random fault for "
                   "this share (0..1) of requests instead of using the list once in order"))
    p.set_defaults(func=_serve)
    lsub = p.add_subparsers(dest="receiver_command", metavar="SUBCOMMAND")

    lp = lsub.add_parser("list", parents=[common], help=_("show the incidents (or telemetry, daily statistics) that arrived"))
    lp.add_argument("--db", default=argparse.SUPPRESS, metavar="PATH|URL", help=_("database (default ./receiver.sqlite)"))
    lp.add_argument("--json", action="store_true", help=_("one JSON object per line"))
    what = lp.add_mutually_exclusive_group()
    what.add_argument("--telemetry", action="store_true", help=_("show the newest telemetry documents instead"))
    what.add_argument("--daily", action="store_true", help=_("show the daily statistics instead"))
    lp.add_argument("--limit", type=int, default=100, help=_("telemetry or daily documents to show (default 100)"))
    lp.set_defaults(func=_list)

    tp = lsub.add_parser("token", parents=[common], help=_("per-device tokens: add, revoke, list"))
    tp.add_argument("action", choices=("add", "revoke", "list"))
    tp.add_argument("device", nargs="?", help=_("device id (device.id in the box's config)"))
    tp.add_argument("--tokens", default=DEFAULT_TOKENS, metavar="FILE", help=_("tokens file (default ./receiver.tokens)"))
    tp.set_defaults(func=_token)

    up = lsub.add_parser("user", parents=[common], help=_("board logins: add (password from the prompt or stdin), remove"))
    up.add_argument("action", choices=("add", "remove"))
    up.add_argument("name")
    up.add_argument("--users", default=DEFAULT_USERS, metavar="FILE", help=_("users file (default ./receiver.users)"))
    up.set_defaults(func=_user)


def _err(msg: str) -> None:
    print(f"gedge receiver: {msg}", file=sys.stderr)


def _serve(args) -> int:
    from ..platform.board import UserBook, UserFileError
    from ..platform.limits import FaultPlan, Limits
    from ..platform.server import ReceiverServer
    from ..platform.storage import open_store
    from ..platform.tokens import TokenBook, TokenFileError

    shared = None
    if args.token_file:
        try:
            shared = Path(args.token_file).read_text(encoding="utf-8").strip()
        except OSError as e:
            _err(_("cannot read token file {path}: {reason}").format(path=args.token_file, reason=e.strerror))
            return 2
        if not shared:
            _err(_("token file {path} is empty").format(path=args.token_file))
            return 2
    tokens_path = args.tokens or (DEFAULT_TOKENS if Path(DEFAULT_TOKENS).is_file() else None)
    try:
        tokens = TokenBook(tokens_path, shared_token=shared)
    except (OSError, TokenFileError) as e:
        _err(_("cannot use tokens file {path}: {reason}").format(path=tokens_path, reason=getattr(e, "strerror", None) or e))
        return 2
    users_path = args.users or (DEFAULT_USERS if Path(DEFAULT_USERS).is_file() else None)
    try:
        users = UserBook(users_path) if users_path else None
    except (OSError, UserFileError) as e:
        _err(_("cannot use users file {path}: {reason}").format(path=users_path, reason=getattr(e, "strerror", None) or e))
        return 2
    faults = None
    if args.faults:
        try:
            faults = FaultPlan(args.faults.split(","), args.fault_rate)
        except ValueError as e:
            _err(str(e))
            return 2
    if args.max_connections < 16:
        _err(_("--max-connections must be at least 16"))
        return 2
    if not (0 < args.header_timeout <= 3600 and 0 < args.body_timeout <= 3600):
        _err(_("--header-timeout and --body-timeout must be between 0 and 3600 seconds"))
        return 2
    if bool(args.tls_cert) != bool(args.tls_key):
        _err(_("--tls-cert and --tls-key go together"))
        return 2
    try:
        store = open_store(args.db)
    except Exception as e:  # a database that cannot be opened: a runtime failure with the driver's reason
        _err(_("cannot open the database {db}: {reason}").format(db=_redact(args.db), reason=str(e).splitlines()[0]))
        return 1
    try:
        server = ReceiverServer(args.host, args.port, store, tokens=tokens, faults=faults,
                                limits=Limits(max_connections=args.max_connections, header_timeout_s=args.header_timeout,
                                              body_timeout_s=args.body_timeout),
                                board_users=users, tls=(args.tls_cert, args.tls_key) if args.tls_cert else None)
    except OSError as e:
        store.close()
        _err(_("cannot listen on {host}:{port}: {reason}").format(host=args.host, port=args.port, reason=e.strerror or e))
        return 1
    if tokens.open:
        log.warning("no tokens file and no --token-file: accepting requests from anyone")
    elif shared is not None:
        log.warning("--token-file: one shared token, so device identity rests on X-Device-Id alone")
    if users is None:
        log.warning("no users file: the board is closed (gedge receiver user add NAME)")
    signal.signal(signal.SIGTERM, _terminate)  # systemd / kill: stop cleanly like Ctrl-C
    print(_("gedge receiver: listening on {scheme}://{host}:{port}/api (board /board, db {db})").format(
        scheme="https" if args.tls_cert else "http", host=args.host, port=server.port, db=_redact(args.db)), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        store.close()
    return 0


def _terminate(signum, frame):
    raise KeyboardInterrupt


def _redact(db: str) -> str:
    """A database URL without its password (it may be printed and logged)."""
    from urllib.parse import urlsplit, urlunsplit

    if "://" not in db:
        return db
    u = urlsplit(db)
    if u.password is None:
        return db
    netloc = f"{u.username}:***@{u.hostname}" + (f":{u.port}" if u.port else "")
    return urlunsplit(u._replace(netloc=netloc))


def _token(args) -> int:
    from ..platform.tokens import TokenFileError, add_token, parse_tokens, revoke_token

    try:
        if args.action == "list":
            path = Path(args.tokens)
            devices = sorted(parse_tokens(path.read_text(encoding="utf-8"), str(path)).values()) if path.exists() else []
            for d in devices:
                print(d)
            return 0
        if not args.device:
            _err(_("token {action} needs a DEVICE").format(action=args.action))
            return 2
        if args.action == "add":
            token = add_token(args.tokens, args.device)
            print(token)
            print(_("token for {device} stored (as a hash) in {path}; it is shown only this once: put it in the box's "
                    "token file").format(device=args.device, path=args.tokens), file=sys.stderr)
            return 0
        if not revoke_token(args.tokens, args.device):
            _err(_("no token for {device} in {path}").format(device=args.device, path=args.tokens))
            return 1
        print(_("token of {device} revoked").format(device=args.device), file=sys.stderr)
        return 0
    except TokenFileError as e:
        _err(str(e))
        return 2
    except OSError as e:
        _err(_("cannot use tokens file {path}: {reason}").format(path=args.tokens, reason=e.strerror))
        return 1


def _user(args) -> int:
    from ..platform.board import UserFileError, add_user, remove_user

    try:
        if args.action == "remove":
            if not remove_user(args.users, args.name):
                _err(_("no user {name} in {path}").format(name=args.name, path=args.users))
                return 1
            return 0
        if sys.stdin.isatty():
            password = getpass.getpass(_("password for {name}: ").format(name=args.name))
        else:
            password = sys.stdin.readline().rstrip("\n")
        if len(password) < 8:
            _err(_("the password needs at least 8 characters"))
            return 2
        add_user(args.users, args.name, password)
        print(_("user {name} can log in to the board").format(name=args.name), file=sys.stderr)
        return 0
    except UserFileError as e:
        _err(str(e))
        return 2
    except OSError as e:
        _err(_("cannot use users file {path}: {reason}").format(path=args.users, reason=e.strerror))
        return 1


def _list(args) -> int:
    from ..platform.storage import is_database_url, open_store

    if not is_database_url(args.db) and not Path(args.db).is_file():
        _err(_("no database at {db}").format(db=args.db))
        return 1
    try:
        store = open_store(args.db)
    except Exception as e:
        _err(_("cannot open the database {db}: {reason}").format(db=_redact(args.db), reason=str(e).splitlines()[0]))
        return 1
    try:
        if args.telemetry:
            rows = store.telemetry(args.limit)
            for r in rows:
                d = r["doc"] if isinstance(r["doc"], dict) else {}
                if args.json:
                    print(json.dumps({"received": r["received"], **d}, ensure_ascii=True))
                else:
                    print(f"{_when(r['received'])}  {clean(d.get('device_id'), 20):<20} "
                          f"{clean(json.dumps(d.get('readings', {}), ensure_ascii=False), 200)}")
            if not args.json:
                print(_("{n} telemetry document(s)").format(n=len(rows)))
            return 0
        if args.daily:
            rows = store.daily(limit=args.limit)
            for r in rows:
                d = r["doc"] if isinstance(r["doc"], dict) else {}
                if args.json:
                    print(json.dumps({"received": r["received"], **d}, ensure_ascii=True))
                else:
                    bins = d.get("bins") if isinstance(d.get("bins"), dict) else {}
                    added = sum(b.get("added_l", 0) for b in bins.values() if isinstance(b, dict)
                                and isinstance(b.get("added_l"), (int, float)))
                    print(f"{clean(d.get('date'), 10):<10}  {clean(d.get('device_id'), 20):<20}  "
                          f"{len(bins)} bin(s)  {added:.1f} L")
            if not args.json:
                print(_("{n} daily document(s)").format(n=len(rows)))
            return 0
        rows = store.incidents()
        if args.json:
            for r in rows:
                d = r["doc"] if isinstance(r["doc"], dict) else {"doc": r["doc"]}
                # ensure_ascii: any control or odd character leaves as an escape, never raw
                print(json.dumps({"received": r["received"], "arrivals": r["arrivals"],
                                  "snapshot_received": r["snapshot_sha256"] is not None,
                                  "pictures": r.get("pictures", []), **d}, ensure_ascii=True))
            return 0
        if rows:
            print(f"{'received':<19}  {'id':<36}  {'rev':>3}  {'type':<15}  {'state':<8}  {'device':<20}  subject")
        for r in rows:
            print(incident_line(r))
        print(_("{n} incident(s)").format(n=len(rows)))
        return 0
    finally:
        store.close()


def incident_line(r: dict) -> str:
    """One line of `list`, whatever the stored document holds (an older server stored anything)."""
    d = r["doc"] if isinstance(r["doc"], dict) else {}
    subject = d.get("subject")
    subj = ",".join(f"{clean(k, 20)}={clean(v, 40)}" for k, v in subject.items() if v) if isinstance(subject, dict) else clean(subject, 40)
    pics = r.get("pictures") or ([] if r.get("snapshot_sha256") is None else ["open"])
    pic = "".join(f" +{p}.jpg" for p in pics)
    return (f"{_when(r['received']):<19}  {clean(d.get('id'), 36):<36}  {clean(d.get('rev'), 19):>3}  "
            f"{clean(d.get('type'), 20):<15}  {clean(d.get('state'), 8):<8}  {clean(d.get('device_id'), 20):<20}  "
            f"{subj}{pic}")


def clean(value, width: int) -> str:
    """Printable text of at most `width` characters: control characters become escapes."""
    text = "?" if value is None else str(value)
    out = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
    return out if len(out) <= width else out[: width - 1] + "…"


def _when(ts) -> str:
    try:
        return dt.datetime.fromtimestamp(float(ts)).strftime("%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError, OverflowError, OSError):
        return "?"
