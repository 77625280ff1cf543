"""The reference platform server: token check, idempotency by (id, rev), highest rev kept, CLI."""
import json
import socket
import subprocess
import sys
import time

import pytest
import requests

from edge.incidents import IncidentBook, Subject
from edge.receiver import FaultPlan, ReceiverServer, ReceiverStore
from uplink_support import REPO, jpeg

TOKEN = "tok-123"


@pytest.fixture
def server(tmp_path):
    store = ReceiverStore(tmp_path / "r.sqlite")
    srv = ReceiverServer("127.0.0.1", 0, store, token=TOKEN)
    srv.start_background()
    yield srv
    srv.shutdown()
    srv.server_close()
    store.close()


def post(srv, doc, token=TOKEN, device="dev-1", path="/api/v1/incidents"):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if device:
        headers["X-Device-Id"] = device
    return requests.post(f"http://127.0.0.1:{srv.port}{path}", data=json.dumps(doc), headers=headers, timeout=5)


def test_token_device_and_document_checks(server):
    b = IncidentBook("dev-1", {"community": "c"}, "Asia/Shanghai")
    d = b.open("bin_full", Subject(bin_id="b1"), {"fill_pct": 95.0}, time.time())
    assert post(server, d, token=None).status_code == 401
    r = post(server, d, token="wrong")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    lower = {"Authorization": f"bearer {TOKEN}", "X-Device-Id": "dev-1", "Content-Type": "application/json"}
    url = f"http://127.0.0.1:{server.port}/api/v1/incidents"
    r = requests.post(url, data=json.dumps({**d, "rev": 0}), headers=lower, timeout=5)
    assert r.status_code == 400  # past the token check: the scheme is case-insensitive
    assert requests.post(url, data=json.dumps(d), headers={**lower, "Authorization": f"Basic {TOKEN}"}, timeout=5).status_code == 401
    assert post(server, d, device=None).status_code == 400
    assert post(server, d, device="someone-else").status_code == 403  # the document is another device's
    assert post(server, {**d, "rev": 0}).status_code == 400
    assert post(server, {**d, "type": "alien"}).status_code == 400
    assert post(server, [1, 2]).status_code == 400
    assert requests.get(f"http://127.0.0.1:{server.port}/api/v1/health", timeout=5).json() == {"ok": True}
    assert server.store.incidents() == []
    assert post(server, d, path="/v1/incidents").status_code == 201  # any prefix, including none


def test_idempotent_by_id_rev_keeps_highest(server):
    b = IncidentBook("dev-1", {"community": "c"}, "Asia/Shanghai")
    d1 = b.open("odor_high", Subject(sensor_id="o1"), {"nh3_ppm": 12.0}, time.time())
    d2 = b.resolve("odor_high", Subject(sensor_id="o1"), time.time())
    assert post(server, d1).status_code == 201
    assert post(server, d2).status_code == 201
    r = post(server, d1)  # late duplicate of an older revision
    assert r.status_code == 409 and r.json()["rev"] == 2
    assert post(server, d2).status_code == 409
    held = server.store.incidents()
    assert len(held) == 1 and held[0]["doc"] == d2 and held[0]["arrivals"] == 4
    assert server.store.arrivals() == [{"id": d1["id"], "rev": 1, "count": 2, "conflicts": 0},
                                       {"id": d1["id"], "rev": 2, "count": 2, "conflicts": 0}]
    assert post(server, {**d2, "measurements": {"nh3_ppm": 1.0}}).status_code == 409
    assert server.store.arrivals()[1]["conflicts"] == 1  # same (id, rev), different content: flagged


def test_snapshot_and_telemetry(server):
    url = f"http://127.0.0.1:{server.port}/api/v1"
    auth = {"Authorization": f"Bearer {TOKEN}", "X-Device-Id": "dev-1"}
    r = requests.put(f"{url}/incidents/nope/snapshot", data=jpeg(), headers={**auth, "Content-Type": "image/jpeg"}, timeout=5)
    assert r.status_code == 404
    d = IncidentBook("dev-1", {}, "UTC").open("bag_outside_bin", Subject(zone="floor"), {"dwell_s": 60.0, "count": 1}, time.time())
    assert post(server, d).status_code == 201
    r = requests.put(f"{url}/incidents/{d['id']}/snapshot", data=b"GIF89a", headers={**auth, "Content-Type": "image/jpeg"}, timeout=5)
    assert r.status_code == 400
    r = requests.put(f"{url}/incidents/{d['id']}/snapshot", data=jpeg(), headers={**auth, "Content-Type": "image/png"}, timeout=5)
    assert r.status_code == 415
    r = requests.put(f"{url}/incidents/{d['id']}/snapshot", data=jpeg(5), headers={**auth, "Content-Type": "image/jpeg"}, timeout=5)
    assert r.status_code == 201 and server.store.snapshot(d["id"]) == jpeg(5)
    tele = {"schema": "garbage-edge/telemetry@1", "device_id": "dev-1", "sent_at": "2026-11-28T19:02:12.001+08:00",
            "readings": {}, "health": {}}
    assert post(server, {**tele, "sent_at": "x"}, path="/api/v1/telemetry").status_code == 400
    assert post(server, tele, path="/api/v1/telemetry").status_code == 202
    assert post(server, {**tele, "schema": "x"}, path="/api/v1/telemetry").status_code == 400
    assert server.store.telemetry()[0]["doc"] == tele


def test_fault_plan_in_order_then_normal():
    plan = FaultPlan(["500", "429:3", "timeout:0.1", "drop"])
    assert [plan.next() for _ in range(5)] == ["500", "429:3", "timeout:0.1", "drop", None]
    with pytest.raises(ValueError):
        FaultPlan(["teapot"])
    rnd = FaultPlan(["503"], rate=0.5, seed=1)
    got = [rnd.next() for _ in range(200)]
    assert 60 < got.count("503") < 140


def gedge(*args, timeout=30):
    return subprocess.run([sys.executable, "-m", "edge", *args], cwd=str(REPO), capture_output=True, text=True, timeout=timeout)


def test_cli_errors(tmp_path):
    r = gedge("receiver", "--token-file", str(tmp_path / "missing"), "--port", "0", "--db", str(tmp_path / "r.sqlite"))
    assert r.returncode == 2 and "token file" in r.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        r = gedge("receiver", "--port", str(s.getsockname()[1]), "--db", str(tmp_path / "r.sqlite"))
    assert r.returncode == 1 and "cannot listen" in r.stderr
    r = gedge("receiver", "list", "--db", str(tmp_path / "none.sqlite"))
    assert r.returncode == 1 and "no database" in r.stderr
    r = gedge("receiver", "--faults", "teapot", "--port", "0", "--db", str(tmp_path / "r.sqlite"))
    assert r.returncode == 2
