"""A minimal platform for storage-fault tests: takes incidents, pictures and telemetry the way
the contract says (201, or 409 for a revision it already holds) and records every arrival."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Platform:
    def __init__(self, tls: tuple | None = None):
        self.arrivals: list[dict] = []  # every incident revision as it arrived
        self.latest: dict[str, dict] = {}
        self.pictures: dict[str, int] = {}
        self.telemetry: list[dict] = []
        self.lock = threading.Lock()
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_HEAD(self):
                self._answer(200)

            def do_POST(self):
                body = self._body()
                if self.path.endswith("/v1/incidents"):
                    doc = json.loads(body)
                    with platform.lock:
                        platform.arrivals.append(doc)
                        held = platform.latest.get(doc["id"])
                        if held is not None and held["rev"] >= doc["rev"]:
                            return self._answer(409)
                        platform.latest[doc["id"]] = doc
                    return self._answer(201)
                if self.path.endswith("/v1/telemetry"):
                    with platform.lock:
                        platform.telemetry.append(json.loads(body))
                    return self._answer(202)
                self._answer(404)

            def do_PUT(self):
                body = self._body()
                iid = self.path.split("/")[-2]
                with platform.lock:
                    platform.pictures[iid] = len(body)
                self._answer(201)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.scheme = "http"
        if tls is not None:  # (cert.pem, key.pem)
            import ssl

            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(tls[0]), str(tls[1]))
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/api"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def docs(self, type_: str | None = None) -> list[dict]:
        with self.lock:
            return [d for d in self.latest.values() if type_ is None or d["type"] == type_]

    def check_no_gap_no_duplicate(self) -> None:
        """Every incident arrived as revisions 1..newest (each at least once), and no subject has
        two incidents open at once."""
        with self.lock:
            revs: dict[str, set[int]] = {}
            for doc in self.arrivals:
                revs.setdefault(doc["id"], set()).add(doc["rev"])
            latest = list(self.latest.values())
        for iid, seen in revs.items():
            assert seen == set(range(1, max(seen) + 1)), f"incident {iid}: revisions {sorted(seen)} have a gap"
        open_subjects = [(d["type"], json.dumps(d["subject"], sort_keys=True)) for d in latest if d["state"] == "open"]
        assert len(open_subjects) == len(set(open_subjects)), f"two open incidents for one subject: {open_subjects}"
