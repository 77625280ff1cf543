"""HTTP uplink against the real `gedge receiver` on loopback: delivery, snapshots, telemetry,
faults (500, timeouts, 429 + Retry-After, 401, dropped connections), tokens."""
import json
import logging
import subprocess
import sys
import time

import pytest

from edge.config import Config
from edge.incidents import IncidentBook, SnapshotStore, Subject
from edge.outbox import Outbox
from edge.receiver import FaultPlan, ReceiverServer, ReceiverStore
from edge.uplink import RetrySchedule, SecretError, Uplink, build_telemetry
from edge.uplink.http import HttpTransport
from uplink_support import REPO, free_port, jpeg, start_receiver, stop, wait_until

TOKEN = "s3cret-token-value"
FAST = lambda: RetrySchedule(0.05, 0.2)  # noqa: E731  small backoff: the tests take seconds


def book():
    return IncidentBook("dev-1", {"community": "测试小区", "point_id": "P-1"}, "Asia/Shanghai")


@pytest.fixture
def receiver(tmp_path):
    """An in-process ReceiverServer (the code `gedge receiver` runs); faults set per test."""
    store = ReceiverStore(tmp_path / "receiver.sqlite")
    srv = ReceiverServer("127.0.0.1", 0, store, token=TOKEN, faults=FaultPlan())
    srv.start_background()
    yield srv
    srv.shutdown()
    srv.server_close()
    store.close()


def transport(port, token=TOKEN, read_timeout=2.0):
    return HttpTransport(f"http://127.0.0.1:{port}/api", "dev-1", token, connect_timeout_s=1.0, read_timeout_s=read_timeout)


def test_normal_delivery_to_gedge_receiver_process(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    port = free_port()
    db = tmp_path / "recv.sqlite"
    proc = start_receiver(port, db, token_file)
    try:
        cfg = Config()
        cfg.device.id = "dev-1"
        cfg.device.site.point_id = "DEMO-0001"
        cfg.uplink.http.base_url = f"http://127.0.0.1:{port}/api"
        cfg.uplink.http.token_file = str(token_file)
        cfg.storage.state_dir = str(tmp_path / "state")
        box = Outbox.from_config(cfg)
        snaps = SnapshotStore.from_config(cfg)
        arrived = {}
        up = Uplink.from_config(cfg, box, snaps, on_delivered=lambda it, o: arrived.setdefault((it.kind, it.incident_id, it.rev), time.monotonic()))
        up.start()
        b = IncidentBook.from_config(cfg)
        sent = {}
        docs = []
        for i in range(5):
            t = time.monotonic()
            d = b.open("bag_outside_bin", Subject(zone=f"floor-{i}"), {"dwell_s": 60.0 + i, "count": 1}, time.time(),
                       snapshot=snaps.put(jpeg(i, 2000)))
            box.enqueue_incident(d)
            sent[(d["id"], 1)] = t
            docs.append(d)
        for d in docs:
            box.enqueue_incident(b.resolve("bag_outside_bin", d["subject"], time.time(), {"dwell_s": 99.0}))
        box.enqueue_incident(b.event("bin_emptied", Subject(bin_id="bin-1"), {"fill_pct_before": 93.0, "fill_pct_after": 3.0}, time.time()))
        box.enqueue_telemetry(build_telemetry("dev-1", "Asia/Shanghai", time.time(), {"bin-1": {"fill_pct": 3.0}},
                                              {"uptime_s": 5, "camera": "ok"}, box.counts()))
        wait_until(lambda: box.counts() == {"pending": 0, "dead_letters": 0, "telemetry_backlog": 0}, 10, what="outbox drained")
        health = up.health()
        up.stop()
        assert health["pending"] == 0 and health["last_ok"] and health["last_error"] is None
        for key, t in sent.items():  # event -> 2xx well under a second on loopback
            assert arrived[("incident", *key)] - t < 1.0
        assert arrived[("snapshot", docs[0]["id"], 1)] >= arrived[("incident", docs[0]["id"], 1)]  # picture after its incident

        store = ReceiverStore(db)
        got = {r["doc"]["id"]: r for r in store.incidents()}
        assert len(got) == 6
        for d in docs:
            r = got[d["id"]]
            assert r["doc"]["rev"] == 2 and r["doc"]["state"] == "resolved" and r["doc"]["site"]["point_id"] == "DEMO-0001"
            assert store.snapshot(d["id"]) == snaps.get(d["snapshot"]["sha256"])
        tele = store.telemetry()
        assert len(tele) == 1 and tele[0]["doc"]["readings"] == {"bin-1": {"fill_pct": 3.0}}
        assert all(a["count"] == 1 for a in store.arrivals())
        store.close()

        out = subprocess.run([sys.executable, "-m", "edge", "receiver", "list", "--db", str(db), "--json"],
                             cwd=str(REPO), capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        rows = [json.loads(x) for x in out.stdout.splitlines()]
        assert {r["id"] for r in rows} == set(got) and sum(r["snapshot_received"] for r in rows) == 5
        text = subprocess.run([sys.executable, "-m", "edge", "receiver", "list", "--db", str(db)],
                              cwd=str(REPO), capture_output=True, text=True, timeout=60).stdout
        assert "6 incident(s)" in text and "bin_emptied" in text
    finally:
        stop(proc)


def test_scripted_faults_end_delivered_or_dead_lettered(receiver, tmp_path):
    receiver.faults = FaultPlan(["500", "timeout:1", "429:1", "401", "drop", "503", "408"])
    box = Outbox(tmp_path / "o.sqlite")
    up = Uplink(box, [transport(receiver.port, read_timeout=0.3)], FAST)
    b = book()
    docs = [b.open("bin_full", Subject(bin_id=f"b{i}"), {"fill_pct": 91.0}, time.time()) for i in range(6)]
    box.enqueue_many(docs)
    t0 = time.monotonic()
    up.start()
    wait_until(lambda: box.counts()["pending"] == 0, 20, what="outbox drained")
    up.stop()
    elapsed = time.monotonic() - t0
    dead = box.dead_letters()
    # the 401 hit exactly one incident: dead-lettered with status and response body
    assert len(dead) == 1 and dead[0]["status"] == 401 and "401" in dead[0]["response"]
    held = {r["doc"]["id"] for r in receiver.store.incidents()}
    assert held | {dead[0]["incident_id"]} == {d["id"] for d in docs} and dead[0]["incident_id"] not in held
    statuses = [s for _, _, _, s in receiver.log]
    assert statuses[:7] == [500, "timeout", 429, 401, "drop", 503, 408]
    # Retry-After: 1 was honoured (backoff alone would have retried after <= 0.2 s)
    t429 = next(t for t, _, _, s in receiver.log if s == 429)
    t_next = next(t for t, _, _, s in receiver.log if t > t429)
    assert t_next - t429 >= 0.95
    assert elapsed < 10


def test_dead_letter_ends_the_backoff_streak(receiver, tmp_path):
    """A 4xx answer means the link works: the next failure backs off from the start again."""
    receiver.faults = FaultPlan(["500", "500", "500", "500", "401", "500"])
    box = Outbox(tmp_path / "o.sqlite")
    up = Uplink(box, [transport(receiver.port)], lambda: RetrySchedule(0.1, 10.0, jitter=0.0))
    b = book()
    box.enqueue_many([b.open("bin_full", Subject(bin_id=f"b{i}"), {"fill_pct": 91.0}, time.time()) for i in range(3)])
    up.start()
    wait_until(lambda: box.counts()["pending"] == 0, 20, what="outbox drained")
    up.stop()
    times = [t for t, _, _, _ in receiver.log]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps[3] >= 0.75  # 0.1 s doubling: the fourth retry waited 0.8 s
    # after the 401 the next request goes at once, and the 500 after it waits 0.1 s, not 1.6 s
    assert gaps[5] < 0.6, gaps


def test_random_faults_via_receiver_cli(tmp_path):
    """`gedge receiver --faults … --fault-rate`: many revisions, every one delivered or dead-lettered."""
    port = free_port()
    db = tmp_path / "recv.sqlite"
    proc = start_receiver(port, db, extra=["--faults", "500,503,429:0.2,timeout:0.4,drop,401,408", "--fault-rate", "0.35"])
    try:
        box = Outbox(tmp_path / "o.sqlite")
        up = Uplink(box, [transport(port, token=None, read_timeout=0.25)], FAST)
        up.start()
        b = book()
        for i in range(12):
            box.enqueue_incident(b.open("odor_high", Subject(sensor_id=f"o{i % 4}"), {"nh3_ppm": 10.0 + i}, time.time()))
            if i % 3 == 2:
                box.enqueue_incident(b.resolve("odor_high", Subject(sensor_id=f"o{i % 4}"), time.time()))
        wait_until(lambda: box.counts()["pending"] == 0, 40, step=0.1, what="outbox drained")
        up.stop()
        store = ReceiverStore(db)
        held = {r["doc"]["id"]: r["doc"]["rev"] for r in store.incidents()}
        dead = {(d["incident_id"], d["rev"]): d for d in box.dead_letters()}
        for iid, rev in box.latest_revisions().items():
            for r in range(1, rev + 1):
                assert held.get(iid, 0) >= r or (iid, r) in dead, f"{iid} rev {r} neither delivered nor dead-lettered"
        assert all(d["status"] == 401 for d in dead.values())
        assert all(a["conflicts"] == 0 for a in store.arrivals())
        store.close()
    finally:
        stop(proc)


def test_wrong_token_dead_letters_then_rotated_token_is_used(receiver, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("old-token")
    box = Outbox(tmp_path / "o.sqlite")
    http = HttpTransport(f"http://127.0.0.1:{receiver.port}/api", "dev-1", lambda: token_file.read_text().strip(),
                         connect_timeout_s=1, read_timeout_s=2)
    up = Uplink(box, [http], FAST)
    up.start()
    b = book()
    box.enqueue_incident(b.open("bin_full", Subject(bin_id="b1"), {"fill_pct": 95.0}, time.time()))
    wait_until(lambda: box.counts()["dead_letters"] == 1, 5, what="dead letter")
    assert box.dead_letters()[0]["status"] == 401
    token_file.write_text(TOKEN)  # rotated: the next 401 re-reads it and retries instead of dead-lettering
    box.enqueue_incident(b.open("bin_full", Subject(bin_id="b2"), {"fill_pct": 95.0}, time.time()))
    wait_until(lambda: len(receiver.store.incidents()) == 1, 5, what="delivery with the new token")
    assert box.retry_dead() == 1
    wait_until(lambda: len(receiver.store.incidents()) == 2, 5, what="re-queued dead letter delivered")
    up.stop()
    assert box.counts()["dead_letters"] == 0


def test_409_and_unknown_snapshot_incident(receiver, tmp_path):
    http = transport(receiver.port)
    d = book().open("bin_full", Subject(bin_id="b1"), {"fill_pct": 95.0}, time.time())
    body = json.dumps(d).encode()
    assert http.send("incident", d["id"], body).status == 201
    again = http.send("incident", d["id"], body)
    assert again.status == 409 and again.kind == "ok"  # already held: delivered
    assert http.send("snapshot", "no-such-id", jpeg()).kind == "dead"
    bad = http.send("incident", None, b'{"schema": "nope"}')
    assert bad.kind == "dead" and bad.status == 400 and "schema" in bad.detail
    assert http.send("snapshot", d["id"], jpeg(3)).status == 201
    assert receiver.store.snapshot(d["id"]) == jpeg(3)


def test_connection_refused_is_retried_then_delivered(tmp_path):
    port = free_port()
    box = Outbox(tmp_path / "o.sqlite")
    up = Uplink(box, [transport(port, token=None)], FAST)
    up.start()
    box.enqueue_incident(book().open("bin_full", Subject(bin_id="b1"), {"fill_pct": 95.0}, time.time()))
    wait_until(lambda: up.health()["last_error"], 5, what="a failure")
    assert "connection" in up.health()["last_error"] and box.counts()["pending"] == 1
    store = ReceiverStore(tmp_path / "r.sqlite")
    srv = ReceiverServer("127.0.0.1", port, store)
    srv.start_background()
    try:
        wait_until(lambda: box.counts()["pending"] == 0, 5, what="delivery after the server came up")
        assert box.list_pending() == [] and len(store.incidents()) == 1
    finally:
        up.stop()
        srv.shutdown()
        srv.server_close()


def test_token_from_systemd_credential_and_never_logged(receiver, tmp_path, monkeypatch, caplog):
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "platform-token").write_text(TOKEN)
    cfg = Config()
    cfg.device.id = "dev-1"
    cfg.uplink.http.base_url = f"http://127.0.0.1:{receiver.port}/api"
    cfg.uplink.http.token_credential = "platform-token"
    cfg.uplink.http.verify_tls = False
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    with pytest.raises(SecretError, match="CREDENTIALS_DIRECTORY"):
        HttpTransport.from_config(cfg)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    caplog.set_level(logging.DEBUG)
    http = HttpTransport.from_config(cfg)
    assert any("verification is DISABLED" in r.getMessage() for r in caplog.records)
    d = book().open("bin_full", Subject(bin_id="b1"), {"fill_pct": 95.0}, time.time())
    assert http.send("incident", d["id"], json.dumps(d).encode()).status == 201
    assert TOKEN not in caplog.text
    (creds / "platform-token").write_text("")
    with pytest.raises(SecretError, match="empty"):
        HttpTransport.from_config(cfg)


@pytest.mark.skipif(__import__("shutil").which("openssl") is None, reason="openssl CLI not installed")
def test_tls_with_custom_ca_file(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    store = ReceiverStore(tmp_path / "r.sqlite")
    srv = ReceiverServer("127.0.0.1", 0, store, token=TOKEN, tls=(cert, key))
    srv.start_background()
    try:
        cfg = Config()
        cfg.device.id = "dev-1"
        cfg.uplink.http.base_url = f"https://127.0.0.1:{srv.port}/api"
        cfg.uplink.http.token_file = "token"
        (tmp_path / "token").write_text(TOKEN)
        d = book().open("bin_full", Subject(bin_id="b1"), {"fill_pct": 95.0}, time.time())
        untrusted = HttpTransport.from_config(cfg, base_dir=tmp_path)  # system CAs: certificate refused, retried
        out = untrusted.send("incident", d["id"], json.dumps(d).encode())
        assert out.kind == "retry" and "TLS certificate not trusted" in out.detail  # edge.logfmt.short_error
        cfg.uplink.http.ca_file = "cert.pem"  # relative to the config's folder
        trusted = HttpTransport.from_config(cfg, base_dir=tmp_path)
        assert trusted.send("incident", d["id"], json.dumps(d).encode()).status == 201
    finally:
        srv.shutdown()
        srv.server_close()
        store.close()


def test_pruned_picture_goes_as_snapshot_null(receiver, tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    snaps = SnapshotStore(tmp_path / "snaps", quota_bytes=300)
    b = book()
    d1 = b.open("bag_outside_bin", Subject(zone="floor"), {"dwell_s": 60.0, "count": 1}, time.time(), snapshot=snaps.put(jpeg(1, 200)))
    box.enqueue_incident(d1)
    meta2, pruned = snaps.put_pruning(jpeg(2, 200))
    d2 = b.open("bag_outside_bin", Subject(zone="floor-2"), {"dwell_s": 60.0, "count": 1}, time.time(), snapshot=meta2)
    box.enqueue_incident(d2)
    assert pruned == [d1["snapshot"]["sha256"]]  # quota: the first picture is gone before upload
    for doc in b.forget_snapshots(pruned, time.time()):
        box.enqueue_incident(doc)
    up = Uplink(box, [transport(receiver.port)], FAST, snapshots=snaps)
    up.start()
    wait_until(lambda: box.counts()["pending"] == 0, 5, what="drained")
    up.stop()
    held = {r["doc"]["id"]: r for r in receiver.store.incidents()}
    assert held[d1["id"]]["doc"]["rev"] == 2 and held[d1["id"]]["doc"]["snapshot"] is None
    assert held[d1["id"]]["snapshot_sha256"] is None
    assert held[d2["id"]]["snapshot_sha256"] == d2["snapshot"]["sha256"]
    assert box.dead_letters() == []
    rev1 = [a for a in receiver.store.arrivals() if a["id"] == d1["id"] and a["rev"] == 1]
    # rev 1 went as it was made; its upload was skipped (no picture left) and rev 2 says snapshot: null
    assert rev1 and rev1[0]["count"] == 1
