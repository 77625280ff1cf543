"""The console's backend against real things: a `gedge run --simulation` agent in its own process,
its control socket, a `gedge console` process spoken to over real HTTP, `gedge status`, and the
pure parts (the incident log, the relay test in the router, the control protocol) on their own."""
from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests

from console_support import ROOT, free_port, socket_path, start_agent, start_console, stop, wait_until, write_config
from edge.config import load_file
from edge.config.edit import edited_text, list_backups
from edge.runtime.control import MAX_REQUEST, ControlError, ControlServer, ask

MODEL = ROOT / "models" / "garbage-yolo.onnx"
needs_model = pytest.mark.skipif(not MODEL.exists(), reason="the shipped model models/garbage-yolo.onnx is missing")

# a bag dropped outside the bins early that stays; bin-1 fills over the first minute
SCENARIO = """
name: console
description: a bag left on the floor; bin-1 fills
duration_s: 600
timeline:
  - {t: 1, action: enter, actor: p1, from: right, to: [520, 390], carrying: black_bag, bag: b1}
  - {t: 3, action: drop, actor: p1, at: [545, 405]}
  - {t: 4, action: leave, actor: p1, to: right}
sensors:
  bin-1-level: [[0, 1100], [60, 400], [600, 400]]
  odor-1: [[0, 2.0], [600, 2.0]]
"""
QUICK_RULES = {"rules.bag_outside_bin.remind_after_s": 1, "rules.bag_outside_bin.incident_after_s": 3,
               "rules.bag_outside_bin.clear_after_s": 3}


def _config(tmp: Path, **changes) -> Path:
    scenario = tmp / "console-scenario.yaml"
    scenario.write_text(SCENARIO)
    cfg = write_config(tmp, **{**QUICK_RULES, **changes})
    text = edited_text(cfg.read_text(), "camera.source", f"sim:{scenario}")
    cfg.write_text(text)
    return cfg


@pytest.fixture
def room(tmp_path):
    """A running agent on the simulated room and a console on loopback in front of it."""
    cfg = _config(tmp_path)
    agent = start_agent(cfg, tmp_path / "agent.log")
    port = free_port()
    console = None
    try:
        console = start_console(cfg, port, tmp_path / "console.log")
        yield {"tmp": tmp_path, "config": cfg, "agent": agent, "url": f"http://127.0.0.1:{port}",
               "socket": socket_path(cfg)}
    finally:
        stop(console)
        stop(agent)


def _state(room) -> dict:
    return ask(room["socket"], {"op": "state"})["state"]


def _gedge(*args, stdin: str | None = None, config: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("GARBAGE_EDGE_CONFIG", "RUNTIME_DIRECTORY")}
    pre = ["--config", str(config)] if config else []
    return subprocess.run([sys.executable, "-m", "edge", *pre, *args], capture_output=True, text=True, env=env,
                          input=stdin, cwd=ROOT, timeout=120)


# ----------------------------------------------------------------------------- the control socket

@needs_model
def test_control_socket_answers_state_and_frame(room):
    path = room["socket"]
    cfg = load_file(room["config"])
    assert path.parent == Path(cfg.storage.runtime_dir), "under a runtime directory the socket lives there"
    assert stat.S_ISSOCK(path.stat().st_mode) and stat.S_IMODE(path.stat().st_mode) == 0o660
    state = wait_until(lambda: (s := _state(room)) and all(r["value"] is not None for r in s["readings"]) and s,
                       30, 0.2, "a reading from every sensor")
    assert state["agent"]["pid"] == room["agent"].pid
    assert state["device"]["id"] == cfg.device.id
    assert [r["id"] for r in state["readings"]] == [s.id for s in cfg.sensors]
    fill = next(r for r in state["readings"] if r["kind"] == "fill")
    assert fill["bin"] == cfg.sensors[0].bin and 0 <= fill["fill_pct"] <= 100 and fill["raw"] > 0
    assert [r["id"] for r in state["relays"]] == [a.id for a in cfg.actuators]
    assert state["zones"]["frame"] == [cfg.camera.width, cfg.camera.height]
    assert state["zones"]["floor"] == [list(map(float, p)) for p in cfg.zones.floor]
    assert "token" not in json.dumps(state).lower()

    frame = ask(path, {"op": "frame"})
    picture = cv2.imdecode(np.frombuffer(base64.b64decode(frame["jpeg_b64"]), np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None and picture.shape[:2] == (cfg.camera.height, cfg.camera.width)
    assert abs(frame["t"] - time.time()) < 30


@needs_model
def test_control_socket_refuses_bad_requests_and_a_stuck_client_blocks_nobody(room):
    path = room["socket"]

    def raw(data: bytes) -> dict:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(str(path))
            s.sendall(data)
            return json.loads(s.makefile("rb").readline())

    assert raw(b"not json\n")["error"] == "bad_request"
    assert raw(b'{"op": "launch"}\n')["error"] == "unknown_op"
    assert raw(b"x" * (MAX_REQUEST + 10) + b"\n")["error"] == "too_long"
    with pytest.raises(ControlError) as e:
        ask(path, {"op": "relay_test", "relay": "no-such-relay"})
    assert e.value.code == "unknown_relay"

    # a client that connects and never sends: the next one still gets its answer, and the
    # agent's own threads carry on meanwhile (its sensor readings keep arriving)
    before = _state(room)["readings"][0]["t"]
    stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stuck.connect(str(path))
    try:
        answer = ask(path, {"op": "state"}, timeout_s=15)["state"]
        wait_until(lambda: _state(room)["readings"][0]["t"] > before, 15, 0.2, "a newer reading")
        assert answer["agent"]["pid"] == room["agent"].pid
    finally:
        stuck.close()
    assert room["agent"].poll() is None


def test_control_server_leaves_a_live_socket_alone_and_replaces_a_stale_one(tmp_path):
    path = tmp_path / "control.sock"
    first = ControlServer(path, {"state": lambda req: {"who": "first"}})
    first.start()
    try:
        with pytest.raises(ControlError):
            ControlServer(path, {"state": lambda req: {"who": "second"}}).start()
        assert ask(path, {"op": "state"}) == {"who": "first"}
    finally:
        first.stop()
    assert not path.exists(), "a clean stop removes the socket"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))  # left behind by an agent that died: bound, nobody listening
    stale.close()
    again = ControlServer(path, {"state": lambda req: {"who": "again"}})
    again.start()
    try:
        assert ask(path, {"op": "state"}) == {"who": "again"}
    finally:
        again.stop()
    with pytest.raises(ControlError) as e:
        ask(path, {"op": "state"})
    assert e.value.code == "no_agent"


def test_without_a_runtime_dir_the_socket_is_in_the_state_dir(tmp_path):
    cfg = load_file(write_config(tmp_path, runtime_dir=False))
    assert socket_path(tmp_path / "config.yaml") == Path(cfg.storage.state_dir) / "control.sock"


# ----------------------------------------------------------------------------- the API over HTTP

@needs_model
def test_api_state_frame_and_history(room):
    url = room["url"]
    state = requests.get(f"{url}/api/state", timeout=10).json()
    assert state["agent"]["pid"] == room["agent"].pid
    r = requests.get(f"{url}/api/frame.jpg", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg" and r.content[:2] == b"\xff\xd8"
    assert cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR).shape[:2] == (480, 640)
    assert r.headers["cache-control"] == "no-store"
    sensor = state["readings"][0]["id"]
    h = wait_until(lambda: (j := requests.get(f"{url}/api/history", params={"sensor": sensor}, timeout=10).json())
                   ["points"] and j, 30, 0.3, "history points")
    assert h["sensor"] == sensor and h["quantity"] == "fill_pct" and h["unit"] == "%"
    assert all(0 <= v <= 100 for _t, v in h["points"])
    assert requests.get(f"{url}/api/history", params={"sensor": "nope"}, timeout=10).status_code == 404


@needs_model
def test_put_zones_saves_through_the_config_layer_and_the_agent_uses_them(room):
    url, cfg_path = room["url"], room["config"]
    comment = "# the watched floor"
    assert comment in cfg_path.read_text()
    new_floor = [[0, 240], [640, 240], [640, 480], [0, 480]]
    bins = [{"id": "bin-1", "polygon": [[50, 160], [190, 160], [190, 340], [50, 340]]},
            {"id": "bin-2", "polygon": [[200, 170], [320, 170], [320, 330], [200, 330]]}]
    loaded_before = _state(room)["agent"]["config_loaded_at"]
    r = requests.put(f"{url}/api/zones", json={"floor": new_floor, "bins": bins}, timeout=10)
    assert r.status_code == 200 and r.json() == {"saved": True, "reloading": True}
    text = cfg_path.read_text()
    assert comment in text, "comments kept"
    saved = load_file(cfg_path)
    assert saved.zones.floor == [tuple(map(float, p)) for p in new_floor]
    assert [(b.id, b.waste_type, b.capacity_l) for b in saved.zones.bins] == [("bin-1", "wet", 240), ("bin-2", "dry", 240)], \
        "the keys the page does not send (waste type, capacity) are kept"
    assert len(list_backups(cfg_path)) == 1, "the file before the change is backed up"

    def active():
        z = requests.get(f"{url}/api/zones", timeout=10).json()["active"]
        return z if z and z["floor"] == [list(map(float, p)) for p in new_floor] else None

    z = wait_until(active, 30, 0.3, "the agent to report the new floor as active")
    assert [b["id"] for b in z["bins"]] == ["bin-1", "bin-2"]
    state = _state(room)
    assert state["agent"]["pid"] == room["agent"].pid, "reloaded, not restarted"
    assert state["agent"]["config_loaded_at"] > loaded_before and state["agent"]["last_reload"]["ok"]


@needs_model
def test_an_invalid_polygon_is_refused_at_its_key_and_the_file_is_untouched(room):
    url, cfg_path = room["url"], room["config"]
    before = cfg_path.read_bytes()
    outside = {"floor": [[0, 240], [700, 240], [640, 480]]}
    r = requests.put(f"{url}/api/zones", json=outside, headers={"accept-language": "en"}, timeout=10)
    assert r.status_code == 422
    (err,) = r.json()["errors"]
    assert err["path"] == "zones.floor" and "outside the 640x480 camera frame" in err["message"]
    zh = requests.put(f"{url}/api/zones", json=outside, headers={"accept-language": "zh-CN,zh;q=0.9"}, timeout=10)
    assert zh.status_code == 422 and "摄像头画面" in zh.json()["errors"][0]["message"]
    two = requests.put(f"{url}/api/zones?lang=en", json={"bins": [{"id": "bin-1", "polygon": [[0, 0], [9, 9]]}]},
                       timeout=10)
    assert two.status_code == 422 and two.json()["errors"][0]["path"] == "zones.bins[0].polygon"
    dup = requests.put(f"{url}/api/zones?lang=en", json={"bins": [{"id": "b", "polygon": [[0, 0], [9, 0], [9, 9]]},
                                                                  {"id": "b", "polygon": [[0, 0], [9, 0], [9, 9]]}]},
                       timeout=10)
    assert dup.status_code == 422 and any(e["path"] == "zones.bins[1].id" for e in dup.json()["errors"])
    junk = requests.put(f"{url}/api/zones", data=b"{not json", timeout=10)
    assert junk.status_code == 400
    shape = requests.put(f"{url}/api/zones", json={"floor": "everywhere"}, timeout=10)
    assert shape.status_code == 422 and shape.json()["errors"][0]["path"] == "zones.floor"
    assert cfg_path.read_bytes() == before and list_backups(cfg_path) == []
    assert _state(room)["agent"]["last_reload"] is None, "nothing was written, so nothing reloaded"


@needs_model
def test_sighup_reload_is_seen_through_the_state(room):
    cfg_path, agent = room["config"], room["agent"]
    good = cfg_path.read_text()
    first = _state(room)
    assert [b["id"] for b in first["zones"]["bins"]] == ["bin-1", "bin-2", "bin-3"]
    cfg_path.write_text(edited_text(good, "zones.bins", [{"id": "bin-1", "polygon": [[60, 170], [180, 170], [180, 330]]}]
                                    ))
    # bin-2/bin-3 are gone, and no sensor names them: valid
    agent.send_signal(signal.SIGHUP)
    state = wait_until(lambda: (s := _state(room))["zones"]["bins"] != first["zones"]["bins"] and s, 30, 0.2,
                       "the reloaded zones in the state")
    assert [b["id"] for b in state["zones"]["bins"]] == ["bin-1"]
    assert state["agent"]["last_reload"]["ok"] is True

    cfg_path.write_text(good.replace("  fps: 10 ", "  fps: -10 "))
    agent.send_signal(signal.SIGHUP)
    refused = wait_until(lambda: (s := _state(room))["agent"]["last_reload"]["ok"] is False and s, 30, 0.2,
                         "the refused reload in the state")
    assert any("camera.fps" in p for p in refused["agent"]["last_reload"]["problems"])
    assert [b["id"] for b in refused["zones"]["bins"]] == ["bin-1"], "still on the last good config"


@needs_model
def test_calibrate_takes_the_agents_raw_distance(room):
    url, cfg_path = room["url"], room["config"]
    wait_until(lambda: _state(room)["readings"][0]["raw"] is not None, 30, 0.2, "a fill reading")
    before = _state(room)["readings"][0]["raw"]
    r = requests.post(f"{url}/api/sensors/bin-1-level/calibrate", json={"point": "full"}, timeout=10)
    after = _state(room)["readings"][0]["raw"]
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["key"] == "sensors[0].full_mm" and body["saved"]
    assert load_file(cfg_path).sensors[0].full_mm == body["value"]
    # the simulated bin fills (its distance falls) while we ask: the stored value is one of the
    # raw distances the agent had between the two looks (sensor noise aside)
    assert min(before, after) - 30 <= body["value"] <= max(before, after) + 30
    wait_until(lambda: _state(room)["readings"][0]["full_mm"] == body["value"], 30, 0.2, "the agent on the new full_mm")
    odor = requests.post(f"{url}/api/sensors/odor-1/calibrate?lang=en", json={"point": "empty"}, timeout=10)
    assert odor.status_code == 422 and "odor sensor" in odor.json()["errors"][0]["message"]
    bad = requests.post(f"{url}/api/sensors/bin-1-level/calibrate", json={"point": "half"}, timeout=10)
    assert bad.status_code == 422


@needs_model
def test_speaker_and_relay_tests_go_through_the_agent(room):
    url = room["url"]
    played = _state(room)["health"]["voice"]["played"]
    r = requests.post(f"{url}/api/test/speaker", timeout=10)
    assert r.status_code == 200 and r.json()["queued"] is True
    wait_until(lambda: _state(room)["health"]["voice"]["played"] > played, 30, 0.2, "the test phrase played")

    r = requests.post(f"{url}/api/test/relay/fan-1", json={"seconds": 1}, timeout=10)
    assert r.status_code == 200 and r.json()["on"] is True
    # switched by the test (reason "test"), and off again after it
    wait_until(lambda: (x := _state(room)["relays"][0])["reason"] == "test" and not x["on"], 30, 0.1,
               "the relay off after its test")
    again = requests.post(f"{url}/api/test/relay/fan-1?lang=en", timeout=10)
    assert again.status_code == 409 and "minimum off time" in again.json()["errors"][0]["message"]
    assert requests.post(f"{url}/api/test/relay/fan-9", timeout=10).status_code == 409
    assert requests.post(f"{url}/api/test/relay/fan-1", json={"seconds": 3600}, timeout=10).status_code == 409
    # a page of another site cannot press the button
    cross = requests.post(f"{url}/api/test/speaker", headers={"origin": "http://example.com"}, timeout=10)
    assert cross.status_code == 403
    # nor read it under its own DNS name pointed at 127.0.0.1 (DNS rebinding)
    port = url.rsplit(":", 1)[1]
    rebound = requests.get(f"{url}/api/state", headers={"host": f"attacker.example:{port}"}, timeout=10)
    assert rebound.status_code == 403
    assert requests.get(f"{url}/api/state", headers={"host": f"localhost:{port}"}, timeout=10).status_code == 200


@needs_model
def test_an_incident_and_its_picture(room):
    url = room["url"]
    doc = wait_until(lambda: next((d for d in requests.get(f"{url}/api/state", timeout=10).json()["incidents"]["open"]
                                   if d["type"] == "bag_outside_bin" and d.get("snapshot")), None), 90, 0.5,
                     "the bag incident with its picture")
    r = requests.get(f"{url}/api/incidents/{doc['id']}/picture.jpg", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert hashlib.sha256(r.content).hexdigest() == doc["snapshot"]["sha256"]
    assert requests.get(f"{url}/api/incidents/nope/picture.jpg", timeout=10).status_code == 404


@needs_model
def test_doctor_from_the_page(room):
    r = requests.post(f"{room['url']}/api/doctor?lang=en", timeout=120)
    assert r.status_code == 200
    checks = {c["id"]: c for c in r.json()["checks"]}
    assert r.json()["agent_running"] is True
    assert checks["camera"]["ok"] and "live from the agent" in checks["camera"]["message"]
    assert checks["sensor bin-1-level"]["level"] == "ok"
    assert checks["platform"]["level"] == "fail", "no uplink in this config: the check says so"
    assert {"clock", "detector", "outbox", "speaker"} <= set(checks)


# ----------------------------------------------------------------------------- without an agent

def test_console_without_an_agent(tmp_path):
    from edge.incidents import IncidentBook, Subject
    from edge.outbox import Outbox

    cfg = _config(tmp_path)
    state_dir = Path(load_file(cfg).storage.state_dir)
    state_dir.mkdir(parents=True)
    box = Outbox(state_dir / "outbox.sqlite", dests=("http",))
    book = IncidentBook("console-room", {"community": "c"}, "Asia/Shanghai")
    box.enqueue_incident(book.open("bin_full", Subject(bin_id="bin-1"), {"fill_pct": 93}, time.time()))
    box.dead_letter(box.pending("http")[0], 400, '{"error": "schema"}')
    box.close()
    port = free_port()
    console = start_console(cfg, port, tmp_path / "console.log")
    url = f"http://127.0.0.1:{port}"
    try:
        r = requests.get(f"{url}/api/state?lang=en", timeout=10)
        assert r.status_code == 503 and "does not answer" in r.json()["errors"][0]["message"]
        assert requests.get(f"{url}/api/frame.jpg", timeout=10).status_code == 503
        z = requests.get(f"{url}/api/zones", timeout=10).json()
        assert z["active"] is None and z["frame"] == [640, 480]
        saved = requests.put(f"{url}/api/zones", json={"floor": [[0, 250], [640, 250], [640, 480]]}, timeout=10)
        assert saved.json() == {"saved": True, "reloading": False}, "saved for the agent's next start"

        dead = requests.get(f"{url}/api/deadletters", timeout=10).json()["dead_letters"]
        assert [(d["status"], d["kind"]) for d in dead] == [(400, "incident")]
        assert requests.post(f"{url}/api/deadletters/{dead[0]['seq']}/retry", timeout=10).json() == {"requeued": 1}
        assert requests.get(f"{url}/api/deadletters", timeout=10).json()["dead_letters"] == []
        assert requests.post(f"{url}/api/deadletters/{dead[0]['seq']}/retry", timeout=10).status_code == 404
        box = Outbox(state_dir / "outbox.sqlite", dests=("http",))
        assert [i.kind for i in box.pending("http")] == ["incident"]
        box.close()

        doctor = requests.post(f"{url}/api/doctor?lang=en", timeout=120).json()
        assert doctor["agent_running"] is False
        assert any(c["id"] == "agent" and not c["ok"] for c in doctor["checks"])
    finally:
        stop(console)


# ----------------------------------------------------------------------------- the login off loopback

def _lan_address() -> str | None:
    """This machine's address on its LAN (not loopback), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing address
        except OSError:
            return None
        addr = s.getsockname()[0]
    return None if ipaddress.ip_address(addr).is_loopback or addr == "0.0.0.0" else addr


def test_lan_needs_a_password_first(tmp_path):
    cfg = _config(tmp_path)
    run = _gedge("console", "--host", "0.0.0.0", "--port", str(free_port()), "--lang", "en", config=cfg)
    assert run.returncode == 2 and "set a password first" in run.stderr
    short = _gedge("console", "passwd", stdin="short\n", config=cfg)
    assert short.returncode == 2 and not (tmp_path / "console-password").exists()
    from edge.platform.board import UserBook

    for pw in ("first-password", "second-password"):
        assert _gedge("console", "passwd", stdin=pw + "\n", config=cfg).returncode == 0
    book = UserBook(tmp_path / "console-password")
    assert book.check("console", "second-password") and not book.check("console", "first-password"), \
        "a new password replaces the old one"
    assert len((tmp_path / "console-password").read_text().splitlines()) == 1


def test_login_is_required_off_loopback(tmp_path):
    lan = _lan_address()
    if lan is None:
        pytest.skip("this machine has no non-loopback address to reach the console from")
    cfg = _config(tmp_path)
    password = "kitchen-waste-42"
    run = _gedge("console", "passwd", stdin=password + "\n", config=cfg)
    assert run.returncode == 0, run.stderr
    stored = (tmp_path / "console-password").read_text()
    assert password not in stored and stored.startswith("console scrypt:")
    assert stat.S_IMODE((tmp_path / "console-password").stat().st_mode) == 0o600
    port = free_port()
    console = start_console(cfg, port, tmp_path / "console.log", host="0.0.0.0")
    local, remote = f"http://127.0.0.1:{port}", f"http://{lan}:{port}"
    try:
        # loopback: no login (the agent is not running: 503, but not 401)
        assert requests.get(f"{local}/api/state", timeout=10).status_code == 503
        # the same console reached through the LAN address: the peer is not loopback
        r = requests.get(f"{remote}/api/state", timeout=10)
        assert r.status_code == 401 and r.json()["errors"][0]["message"]
        page = requests.get(f"{remote}/zones", allow_redirects=False, timeout=10)
        assert page.status_code == 303 and page.headers["location"] == "/login?next=/zones"
        # a header claiming loopback changes nothing: the console trusts no proxy header
        spoof = requests.get(f"{remote}/api/state", headers={"x-forwarded-for": "127.0.0.1", "x-real-ip": "127.0.0.1"},
                             timeout=10)
        assert spoof.status_code == 401
        assert requests.get(f"{remote}/login", timeout=10).status_code == 200
        assert requests.get(f"{remote}/api/health", timeout=10).status_code == 200

        s = requests.Session()
        wrong = s.post(f"{remote}/login", data={"password": "wrong-password", "next": "/zones"},
                       allow_redirects=False, timeout=30)
        assert wrong.status_code == 303 and wrong.headers["location"].startswith("/login?failed=1")
        assert s.get(f"{remote}/api/state", timeout=10).status_code == 401
        ok = s.post(f"{remote}/login", data={"password": password, "next": "/zones"}, allow_redirects=False, timeout=30)
        assert ok.status_code == 303 and ok.headers["location"] == "/zones"
        cookie = ok.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "max-age=" in cookie
        assert s.get(f"{remote}/api/state", timeout=10).status_code == 503, "logged in: through to the API"
        html = s.get(f"{remote}/zones", timeout=10).text
        assert password not in html and stored.split(":")[-1].strip() not in html, "no secret on the page"
        evil = s.post(f"{remote}/login", data={"password": password, "next": "//evil.example/"},
                      allow_redirects=False, timeout=30)
        assert evil.headers["location"] == "/"
        # a forged session cookie is no session
        forged = requests.get(f"{remote}/api/state", cookies={"gedge_console": "Y29uc29sZXw5OTk5OTk5OTk5fGZm"},
                              timeout=10)
        assert forged.status_code == 401
        s.post(f"{remote}/logout", timeout=10)
        assert s.get(f"{remote}/api/state", timeout=10).status_code == 401
        # guessing: after 10 wrong passwords from one address even the right one is refused for a while
        from edge.console.auth import MAX_FAILURES

        for i in range(MAX_FAILURES):
            s.post(f"{remote}/login", data={"password": f"guess-{i:04d}"}, allow_redirects=False, timeout=30)
        locked = s.post(f"{remote}/login", data={"password": password}, allow_redirects=False, timeout=30)
        assert locked.headers["location"].startswith("/login?failed=1")
        assert requests.post(f"{local}/login", data={"password": password}, allow_redirects=False,
                             timeout=30).headers["location"] == "/", "another address is not locked out"
    finally:
        stop(console)


def test_sessions_expire():
    from edge.console.auth import Gate
    from edge.platform.board import SESSION_S

    gate = Gate(Path("/nonexistent/console-password"))
    now = 1_800_000_000.0
    cookie = gate.sessions.issue("console", now)
    assert gate.sessions.user(cookie, now + SESSION_S - 1) == "console"
    assert gate.sessions.user(cookie, now + SESSION_S + 1) is None
    assert Gate(Path("/nonexistent/x")).sessions.user(cookie, now) is None, "a restarted console has a new key"


# ----------------------------------------------------------------------------- gedge status

@needs_model
def test_gedge_status(room):
    cfg = load_file(room["config"])
    run = _gedge("status", "--lang", "en", config=room["config"])
    assert run.returncode == 0, run.stderr
    for word in (cfg.device.id, "bin-1-level", "odor-1", "fan-1", f"pid {room['agent'].pid}", "floor 4 corners"):
        assert word in run.stdout
    zh = _gedge("status", "--lang", "zh", config=room["config"])
    assert zh.returncode == 0 and "代理程序" in zh.stdout and "地面区域" in zh.stdout
    as_json = json.loads(_gedge("status", "--json", config=room["config"]).stdout)
    assert as_json["agent"]["pid"] == room["agent"].pid and as_json["zones"]["frame"] == [640, 480]
    stop(room["agent"])
    down = _gedge("status", "--lang", "en", config=room["config"])
    assert down.returncode == 1 and "does not answer" in down.stderr
    assert not room["socket"].exists(), "the agent removes its socket when it stops"


# ----------------------------------------------------------------------------- pure parts

def test_incident_log_keeps_open_and_the_last_resolved():
    from edge.runtime.control_state import IncidentLog

    log = IncidentLog(recent=3)
    for i in range(5):
        log.record({"id": f"i{i}", "rev": 1, "state": "open"})
    for i in range(4):
        log.record({"id": f"i{i}", "rev": 2, "state": "resolved"})
    snap = log.snapshot()
    assert [d["id"] for d in snap["open"]] == ["i4"]
    assert [d["id"] for d in snap["recent"]] == ["i3", "i2", "i1"], "newest first, at most 3"
    log.record({"id": "i2", "rev": 3, "state": "resolved"})
    assert [(d["id"], d["rev"]) for d in log.snapshot()["recent"]] == [("i2", 3), ("i3", 2), ("i1", 2)]
    assert log.find("i4")["state"] == "open" and log.find("nope") is None


def test_merge_bins_keeps_what_the_page_does_not_send():
    from edge.console.api import merge_bins

    old = [{"id": "bin-1", "polygon": [[0, 0], [1, 0], [1, 1]], "waste_type": "wet", "capacity_l": 240},
           {"id": "bin-2", "polygon": [[2, 0], [3, 0], [3, 1]], "waste_type": "dry"}]
    square = [[5, 5], [9, 5], [9, 9], [5, 9]]
    got = merge_bins(old, [{"id": "bin-2", "polygon": square}, {"id": "bin-9", "polygon": square},
                           {"id": "bin-new", "polygon": square}])
    assert got[0] == {"id": "bin-2", "polygon": square, "waste_type": "dry"}, "found by its id"
    assert got[1] == {"id": "bin-9", "polygon": square}, "bin-1's place, but bin-1 is not renamed: it is gone"
    assert got[2] == {"id": "bin-new", "polygon": square}, "a new bin: nothing to keep"
    renamed = merge_bins(old, [{"id": "bin-1", "polygon": square}, {"id": "bin-two", "polygon": square}])
    assert renamed[1] == {"id": "bin-two", "polygon": square, "waste_type": "dry"}, "renamed in place: keys kept"


def test_router_relay_test_respects_the_relay_policy():
    from edge.actuators import RelayPolicy
    from edge.config import load_file as load
    from edge.runtime.router import Router
    from edge.voice import VoicePolicy

    cfg = load(ROOT / "config" / "default.yaml")
    policy = RelayPolicy(on_while="odor_high", min_off_s=60.0)
    router = Router(cfg, VoicePolicy(cfg), {"fan-1": policy}, mono=0.0)
    assert router.relay_test("fan-9", 5, 0.0)[1] == "unknown"
    d, outcome = router.relay_test("fan-1", 5, 10.0)
    assert outcome == "on" and [(s.id, s.on) for s in d.relays] == [("fan-1", True)]
    assert router.relay_test("fan-1", 5, 11.0)[1] == "busy"
    assert router.idle(1e9, 12.0).relays == [], "held on during the test, no odor needed"
    off = router.idle(1e9, 15.0).relays
    assert [(s.id, s.on) for s in off] == [("fan-1", False)]
    assert router.relay_test("fan-1", 5, 20.0)[1] == "min_off", "the fan's minimum off time holds for tests too"
    assert router.relay_test("fan-1", 5, 76.0)[1] == "on"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_console_unit_verifies(tmp_path):
    unit = ROOT / "systemd" / "garbage-edge-console.service"
    gedge = Path(sys.executable).with_name("gedge")
    text = unit.read_text().replace("/opt/garbage-edge/venv/bin/gedge", str(gedge))
    assert "--host" not in text.split("ExecStart=")[-1].splitlines()[0], "loopback by default"
    copy = tmp_path / unit.name
    copy.write_text(text)
    run = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True)
    assert run.returncode == 0 and unit.name not in run.stderr, run.stderr
    for line in ("User=garbage-edge", "ProtectSystem=strict", "PrivateDevices=yes", "NoNewPrivileges=yes"):
        assert line in text


def test_status_view_lines_up_its_columns_in_chinese_too():
    from edge import i18n
    from edge.cli.status_cmd import render

    def reading(sid, kind, value, unit, bin_=None, gas=None):
        return {"id": sid, "kind": kind, "bin": bin_, "gas": gas, "value": value, "unit": unit, "state": "ok"}

    state = {"device": {"id": "room-1", "timezone": "Asia/Shanghai", "site": {"community": "示例", "point_id": "P1"}},
             "agent": {"pid": 1, "uptime_s": 4000, "config_path": "/etc/garbage-edge/config.yaml",
                       "config_loaded_at": 1_800_000_000, "last_reload": None},
             "camera": {"status": "ok", "source": "rtsp://admin:***@cam/1", "fps": 10.0, "size": [640, 480]},
             "readings": [reading("bin-1-level", "fill", 33.3, "%", bin_="bin-1"),
                          reading("odor-1", "odor", 2.325, "ppm", gas="nh3")],
             "relays": [{"id": "fan-1", "on": False, "reason": "idle"}],
             "incidents": {"open": [], "recent": []}, "outbox": {"pending": 0, "dead_letters": 0},
             "zones": {"frame": [640, 480], "floor": [[0, 0], [1, 0], [1, 1]], "bins": [{"id": "bin-1"}]}}
    for lang in ("zh", "en"):
        with i18n.language(lang):
            text = render(state)
        rows = [ln for ln in text.splitlines() if ln.startswith("  ") and ln.rstrip().endswith(" ok")]
        assert len(rows) == 2
        starts = {i18n.display_width(ln[:ln.rindex(" ok") + 1]) for ln in rows}
        assert len(starts) == 1, f"{lang}: the state column starts at one place: {rows}"
        assert all(ln == ln.rstrip() for ln in text.splitlines())
