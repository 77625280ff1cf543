"""MQTT uplink against a real mosquitto on loopback, restarted mid-stream."""
import getpass
import json
import shutil
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from edge.config import Config
from edge.incidents import IncidentBook, SnapshotStore, Subject
from edge.outbox import Outbox
from edge.uplink import Uplink
from uplink_support import REPO, free_port, jpeg, stop, wait_until

pytestmark = pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto broker not installed")
mqtt = pytest.importorskip("paho.mqtt.client")


class Broker:
    def __init__(self, tmp_path):
        self.port = free_port()
        self.dir = tmp_path / "broker"
        self.dir.mkdir()
        self.conf = self.dir / "mosquitto.conf"
        # persistence: the subscriber's session and its queued messages survive the restart.
        # `user`: started as root, mosquitto drops to its own user and then cannot write the
        # session file into the test's private folder (messages for the offline subscriber lost)
        self.conf.write_text(textwrap.dedent(f"""\
            listener {self.port} 127.0.0.1
            allow_anonymous true
            persistence true
            user {getpass.getuser()}
            persistence_location {self.dir}/
            log_dest stderr
            """))
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("mosquitto exited: " + self.proc.stderr.read().decode())
            import socket

            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return True
            except OSError:
                return False

        wait_until(up, 10, 0.05, "mosquitto to listen")

    def stop(self):
        stop(self.proc)


class Subscriber:
    """The platform side: QoS 1, persistent session, reconnecting."""

    def __init__(self, port, topic):
        self.messages = []
        self.lock = threading.Lock()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="platform-test-sub", clean_session=False)
        self.c.reconnect_delay_set(1, 1)
        self.c.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.c.on_message = self._on_message
        self.c.connect("127.0.0.1", port, keepalive=10)
        self.c.loop_start()

    def _on_message(self, c, u, msg):
        with self.lock:
            self.messages.append((msg.topic, bytes(msg.payload), msg.retain))

    def topic(self, suffix):
        with self.lock:
            return [(p, r) for t, p, r in self.messages if t.endswith(suffix)]

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()


def test_incidents_survive_broker_restart(broker, tmp_path):
    from edge.uplink.mqtt import MqttTransport

    sub = Subscriber(broker.port, "garbage-edge/dev-1/#")
    wait_until(lambda: sub.c.is_connected(), 5, what="subscriber connected")
    time.sleep(0.2)  # SUBACK
    cfg = Config()  # wired as the agent does it: MQTT only, from the config
    cfg.device.id = "dev-1"
    cfg.storage.state_dir = str(tmp_path / "state")
    cfg.uplink.http.enabled = False
    cfg.uplink.mqtt.enabled = True
    cfg.uplink.mqtt.port = broker.port
    cfg.uplink.backoff.initial_s = 5.0  # long: only the reconnect itself can end the backoff in time
    cfg.uplink.backoff.max_s = 60.0
    box = Outbox.from_config(cfg)
    assert box.dests == ("mqtt",)
    snaps = SnapshotStore.from_config(cfg)
    up = Uplink.from_config(cfg, box, snaps)
    transport = up._lanes[0].transport
    assert isinstance(transport, MqttTransport)
    up.start()
    assert transport.wait_connected(5)
    b = IncidentBook.from_config(cfg)
    expected = set()
    for i in range(30):
        snap = snaps.put(jpeg(i)) if i % 10 == 0 else None
        d = b.open("bin_full", Subject(bin_id=f"b{i % 7}"), {"fill_pct": 90.0 + i}, time.time(), snapshot=snap)
        box.enqueue_incident(d)
        expected.add((d["id"], d["rev"]))
        if i == 12:
            broker.stop()  # mid-stream: the agent keeps enqueuing, nothing is lost
            assert (broker.dir / "mosquitto.db").exists(), "the broker did not save the subscriber's session"
        if i == 20:
            assert box.counts()["pending"] > 0  # waiting on disk while the broker is down
            broker.start()
            restarted = time.monotonic()
        time.sleep(0.05)
    box.enqueue_telemetry({"schema": "garbage-edge/telemetry@1", "device_id": "dev-1", "n": 1})
    wait_until(lambda: box.counts()["pending"] == 0 and box.counts()["telemetry_backlog"] == 0, 20, 0.05, "outbox drained")
    # paho reconnects after ~1 s and that ends the uplink's 3.5-5 s backoff at once
    assert time.monotonic() - restarted < 3.4

    def got():
        return {(d["id"], d["rev"]) for d in (json.loads(p) for p, _ in sub.topic("/incidents"))}

    wait_until(lambda: got() >= expected, 10, 0.05, "every incident at the subscriber")
    assert got() == expected
    first = next(iter(d for d in (json.loads(p) for p, _ in sub.topic("/incidents")) if d["snapshot"]))
    pics = [p for t, p, _ in sub.messages if t == f"garbage-edge/dev-1/incidents/{first['id']}/snapshot"]
    assert pics and pics[0] == snaps.get(first["snapshot"]["sha256"])
    wait_until(lambda: sub.topic("/telemetry"), 5, what="telemetry")
    assert (b"online", False) in sub.topic("/status") or (b"online", True) in sub.topic("/status")
    up.stop()
    wait_until(lambda: sub.topic("/status")[-1][0] == b"offline", 5, what="offline status on clean stop")
    sub.close()


def test_last_will_offline_when_agent_is_killed(broker):
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        from edge.uplink.mqtt import MqttTransport
        t = MqttTransport("127.0.0.1", {broker.port}, "dev-9", keepalive_s=5)
        t.start()
        assert t.wait_connected(5)
        time.sleep(0.3)
        print("ready", flush=True)
        time.sleep(60)
        """)
    agent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert agent.stdout.readline().strip() == "ready"
        sub = Subscriber(broker.port, "garbage-edge/dev-9/status")
        wait_until(lambda: sub.topic("/status"), 5, what="retained status")
        assert sub.topic("/status")[0] == (b"online", True)  # retained
        agent.kill()  # no clean disconnect: the broker publishes the last will
        wait_until(lambda: sub.topic("/status")[-1][0] == b"offline", 5, what="last will")
        sub.close()
        late = Subscriber(broker.port, "garbage-edge/dev-9/status")
        wait_until(lambda: late.topic("/status"), 5, what="retained last will")
        assert late.topic("/status")[0] == (b"offline", True)
        late.close()
    finally:
        stop(agent, kill=True)
