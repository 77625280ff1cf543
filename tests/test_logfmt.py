"""Log lines a person can read: incidents on one line without Python dicts, short network
errors, one "delivering again" line per outage, time stamps unless journald adds them."""
from __future__ import annotations

import http.server
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests

from conftest import ROOT
from edge.logfmt import event_line, incident_line, log_format, recovered_line, retry_line, short_error
from uplink_support import free_port, wait_until

STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")

INCIDENT = {
    "what": "incident", "id": "8f3c2a10-5b1e-4c2d-9a77-0d3e4f5a6b7c", "rev": 2, "type": "bag_outside_bin",
    "state": "open", "subject": {"zone": "floor", "bin_id": None, "sensor_id": None},
    "measurements": {"dwell_s": 449.0, "count": 1, "seen_by": ["detector", "static"]},
    "snapshot": {"sha256": "ab12cd34ef56aa77bb88cc99dd00ee11ff22", "bytes": 48213, "content_type": "image/jpeg"},
}


def test_an_incident_is_one_readable_line():
    line = incident_line(INCIDENT)
    assert line == ("incident bag_outside_bin open rev 2 id=8f3c2a10-5b1e-4c2d-9a77-0d3e4f5a6b7c: "
                    "zone=floor dwell_s=449 count=1 seen_by=detector,static snapshot=ab12cd34ef56")
    assert "{" not in line and "'" not in line and "\n" not in line


def test_a_sensor_incident_without_picture():
    line = event_line({"what": "incident", "id": "x1", "rev": 1, "type": "bin_full", "state": "resolved",
                       "subject": {"zone": None, "bin_id": "bin-2", "sensor_id": "fill-2"},
                       "measurements": {"fill_pct": 12.5}, "snapshot": None})
    assert line == "incident bin_full resolved rev 1 id=x1: bin_id=bin-2 sensor_id=fill-2 fill_pct=12.5"


def test_other_events_are_one_line_too():
    assert event_line({"what": "relay", "id": "fan-1", "on": True}) == "relay fan-1 on"
    voice = event_line({"what": "voice", "prompt": "bag_outside", "zone": "floor", "text": "居民同志，您的垃圾落地了",
                        "voice": "zh", "volume": 80, "latency_ms": 120.5})
    assert voice == "voice bag_outside zone=floor voice=zh volume=80 latency_ms=120.5"
    note = event_line({"what": "storage", "state": "fault", "detail": {"path": "/var/lib/x", "error": "disk full"}})
    assert note == 'storage state=fault detail=path:/var/lib/x,error:"disk full"'


def test_a_refused_connection_is_a_few_words():
    port = free_port()
    with pytest.raises(requests.ConnectionError) as e:
        requests.get(f"http://127.0.0.1:{port}/api/v1/incidents", timeout=2)
    assert len(str(e.value)) > 150  # what requests says: HTTPConnectionPool(host=…): Max retries exceeded …
    assert short_error(e.value) == f"connection refused (127.0.0.1:{port})"


def test_a_silent_server_is_a_read_timeout():
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)  # accepts, never answers
        port = srv.getsockname()[1]
        with pytest.raises(requests.Timeout) as e:
            requests.get(f"http://127.0.0.1:{port}/", timeout=(1.0, 0.2))
    assert short_error(e.value) == f"no answer in time (read timeout) (127.0.0.1:{port})"


def test_an_unknown_error_is_clipped_to_one_short_line():
    text = short_error("something odd happened\n" + "x" * 400)
    assert "\n" not in text and len(text) <= 120 and text.startswith("something odd happened x")


def test_retry_and_recovery_lines():
    assert retry_line("http", "incident a1 rev 2: connection refused (10.0.0.5:8443)", 3, 8.0) == \
        "uplink http: incident a1 rev 2: connection refused (10.0.0.5:8443); retry 3 in 8.0 s"
    assert recovered_line("http", 1, 12.2) == "uplink http: delivering again after 1 failed try over 12 s"
    assert recovered_line("mqtt", 7, 600) == "uplink mqtt: delivering again after 7 failed tries over 10 min"


def test_log_format_has_time_stamps_unless_under_journald():
    assert "%(asctime)s" in log_format({})
    assert "%(asctime)s" not in log_format({"JOURNAL_STREAM": "8:12345"})


@pytest.mark.parametrize("journal", [False, True])
def test_the_cli_stamps_its_log_lines_outside_journald(journal):
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    if journal:
        env["JOURNAL_STREAM"] = "8:12345"
    code = "from edge.cli import setup_logging; import logging; setup_logging(1); logging.getLogger('edge.x').info('hello')"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    line = run.stderr.strip().splitlines()[-1]
    assert line.endswith("INFO edge.x: hello")
    assert bool(STAMP.match(line)) is not journal, line


# -- the uplink worker, against a real HTTP server that comes up late -------------------------

class _Accept(http.server.BaseHTTPRequestHandler):
    def _ok(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_PUT = do_POST = _ok

    def log_message(self, *args):  # keep the test output quiet
        pass


def test_uplink_logs_short_retries_and_says_once_that_it_delivers_again(tmp_path, caplog):
    from edge.incidents import IncidentBook, Subject
    from edge.outbox import Outbox
    from edge.uplink import RetrySchedule, Uplink
    from edge.uplink.http import HttpTransport

    port = free_port()
    box = Outbox(tmp_path / "o.sqlite")
    transport = HttpTransport(f"http://127.0.0.1:{port}/api", "dev-1", None, connect_timeout_s=1.0, read_timeout_s=2.0)
    up = Uplink(box, [transport], lambda: RetrySchedule(0.05, 0.2))
    book = IncidentBook("dev-1", {"community": "测试小区", "point_id": "P-1"}, "Asia/Shanghai")
    caplog.set_level(logging.INFO, logger="edge.uplink")
    up.start()
    server = None
    try:
        box.enqueue_incident(book.open("bin_full", Subject(bin_id="b1"), {"fill_pct": 95.0}, time.time()))
        wait_until(lambda: sum("retry" in r.getMessage() for r in caplog.records) >= 2, 10, what="two retries")
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Accept)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        wait_until(lambda: box.counts()["pending"] == 0, 10, what="delivery once the server is up")
        box.enqueue_incident(book.open("bin_full", Subject(bin_id="b2"), {"fill_pct": 96.0}, time.time()))
        wait_until(lambda: box.counts()["pending"] == 0, 10, what="a second delivery")
    finally:
        up.stop()
        if server:
            server.shutdown()
            server.server_close()
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("edge.uplink")]
    retries = [m for m in lines if "; retry " in m]
    assert retries and all(len(m) < 160 and "\n" not in m for m in retries), retries
    assert all(f"connection refused (127.0.0.1:{port})" in m for m in retries), retries
    assert all("HTTPConnectionPool" not in m and "Max retries" not in m for m in lines)
    again = [m for m in lines if "delivering again" in m]
    assert len(again) == 1, lines
    assert re.fullmatch(r"uplink http: delivering again after \d+ failed tr(y|ies) over \d+ s", again[0])


def test_the_agent_logs_each_event_as_one_readable_line(caplog):
    from types import SimpleNamespace

    from edge.runtime.agent import Agent

    caplog.set_level(logging.INFO, logger="edge.runtime.agent")
    Agent._emit(SimpleNamespace(listener=None), dict(INCIDENT))  # the agent's own method, no threads needed
    assert [r.getMessage() for r in caplog.records if r.name == "edge.runtime.agent"] == [incident_line(INCIDENT)]
