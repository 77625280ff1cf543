"""The statistics inside the running agent: a day left from before the start goes to a real
receiver, collection_overdue opens at its deadline and resolves when the (simulated) bin is
emptied — through the agent's own router and outbox — and the per-minute history is written."""
from __future__ import annotations

import datetime as dt
import json
import threading
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from edge.config.edit import edited_text
from edge.config.loader import validate_text
from edge.runtime.agent import Agent
from edge.stats.series import SeriesStore
from uplink_support import receiver_in_thread, wait_until

ROOT = Path(__file__).resolve().parent.parent
TZ = ZoneInfo("Asia/Shanghai")

SENSOR_SCENARIO = """
name: full_then_emptied
duration_s: 600
sensors:
  bin-1-level: [[0, 440], [100, 440], [102, 1170], [600, 1170]]   # 80 % until 100 s (held past rules.bin_emptied.hold_s), then emptied to 3 %
  odor-1: [[0, 2.0], [600, 2.0]]
"""


class NoDetector:
    def detect(self, frame):
        return []


@pytest.fixture
def receiver(tmp_path):
    with receiver_in_thread(tmp_path / "receiver.db") as running:
        yield running


def test_agent_sends_a_past_day_and_supervises_the_collection(tmp_path, receiver):
    server, store = receiver
    (tmp_path / "token").write_text("t0k\n")
    (tmp_path / "sensors.yaml").write_text(SENSOR_SCENARIO)
    now = time.time()
    local = dt.datetime.fromtimestamp(now, TZ)
    scheduled = local.replace(second=0, microsecond=0)
    window_s = round(now - scheduled.timestamp() + 20, 1)  # the deadline: 20 s from now
    yesterday = (local.date() - dt.timedelta(days=1)).isoformat()
    state = tmp_path / "state"
    state.mkdir()
    # what a former run counted yesterday: 25 points of bin-1, one emptying, 5 reminders
    (state / "stats.json").write_text(json.dumps({"accounting": {"first_day": yesterday, "days": {yesterday: {
        "date": yesterday, "bins": {"bin-1": {"added_pct": 25.0, "emptied": 1, "full_minutes": 12,
                                              "data_minutes": 1440}}, "camera_ok_minutes": 1400, "reminders": 5}}}}))
    text = (ROOT / "config" / "default.yaml").read_text()
    for key, value in {
        "device.id": "stats-agent-room",
        "sensors[0].scenario": str(tmp_path / "sensors.yaml"),
        "sensors[1].scenario": str(tmp_path / "sensors.yaml"),
        "voice.player": "sim",
        "uplink.http.base_url": f"http://127.0.0.1:{server.server_address[1]}/api",
        "uplink.http.token_file": "token",
        "uplink.http.token_credential": None,
        "storage.state_dir": str(state),
        "storage.cache_dir": str(tmp_path / "cache"),
        "stats.settle_s": 4,
        "stats.daily.send_at": "00:00",
        "stats.collection.schedule": {"bin-1": [scheduled.strftime("%H:%M")]},
        "stats.collection.window_s": window_s,
        "stats.collection.grace_s": 0,
    }.items():
        text = edited_text(text, key, value)
    cfg, _ = validate_text(text, "config.yaml", tmp_path)
    agent = Agent(cfg, tmp_path, detector=NoDetector())
    agent.start()
    stop = threading.Event()

    def supervise():  # what the service's supervisor does twice a second
        while not stop.is_set():
            agent.tick()
            time.sleep(0.2)

    ticker = threading.Thread(target=supervise, daemon=True)
    ticker.start()
    try:
        daily = wait_until(lambda: store.daily(device_id="stats-agent-room"), 30, 0.2, "yesterday's document")
        doc = daily[0]["doc"]
        assert doc["date"] == yesterday and doc["reminders"] == 5
        assert doc["bins"]["bin-1"]["added_l"] == pytest.approx(0.25 * 240) and doc["bins"]["bin-1"]["emptied"] == 1

        def overdue(state_):
            return [i["doc"] for i in store.incidents() if i["doc"]["type"] == "collection_overdue"
                    and i["doc"]["state"] == state_]

        opened = wait_until(lambda: overdue("open") or overdue("resolved"), 60, 0.2, "collection_overdue to open")
        assert opened[0]["subject"]["bin_id"] == "bin-1" and opened[0]["severity"] == "warning"
        assert dt.datetime.fromisoformat(opened[0]["opened_at"]).timestamp() >= now + 19
        resolved = wait_until(lambda: overdue("resolved"), 180, 0.2, "collection_overdue to resolve on the emptying")
        assert resolved[0]["measurements"]["resolution"] == "emptied"
        emptied = [i["doc"] for i in store.incidents() if i["doc"]["type"] == "bin_emptied"]
        assert emptied and resolved[0]["resolved_at"] >= emptied[0]["opened_at"]
    finally:
        stop.set()
        ticker.join(2)
        agent.stop()
    with SeriesStore.open_readonly(state / "series.sqlite") as series:
        assert {"bin-1-level", "odor-1"} <= set(series.sensors())
        assert series.read("bin-1-level", now - 120, time.time() + 60)
    saved = json.loads((state / "stats.json").read_text())
    assert yesterday in saved["queued"]
    assert saved["accounting"]["days"][local.date().isoformat()]["bins"]["bin-1"]["emptied"] == 1
