"""The daily document through the outbox to a real `gedge receiver`: queued while the platform
is down, delivered when it is back, exactly once per day — also after the agent restarts."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from edge.config import Config
from edge.config.loader import load_file
from edge.outbox import Outbox
from edge.receiver import ReceiverStore
from edge.sensing.alarms import Reading
from edge.stats.service import StatsService
from edge.uplink import Uplink
from uplink_support import free_port, start_receiver, stop, wait_until

ROOT = Path(__file__).resolve().parent.parent
TZ = "Asia/Shanghai"
MIDNIGHT = dt.datetime(2026, 11, 28, tzinfo=ZoneInfo(TZ)).timestamp()


def _config(tmp: Path, port: int) -> Config:
    base = load_file(ROOT / "config" / "default.yaml").model_dump()
    base["device"]["id"] = "stats-room"
    base["storage"]["state_dir"] = str(tmp / "state")
    base["uplink"]["http"].update(base_url=f"http://127.0.0.1:{port}/api", token_file=str(tmp / "token"),
                                  token_credential=None)
    base["uplink"]["backoff"] = {"initial_s": 0.2, "max_s": 1.0}
    return Config.model_validate(base)


def _a_day(stats: StatsService, day0: float) -> None:
    """bin-1 climbs from 20 % to 50 % over the day's first hours (a reading every 10 s)."""
    for i in range(0, 6 * 360):
        now = day0 + i * 10
        pct = 20.0 + min(30.0, i / 36.0)
        stats.reading(Reading("bin-1-level", "fill", "fill_pct", 1000.0, pct, "%", now), now)
        if i % 30 == 0:
            stats.tick(now, camera_ok=True)


def test_days_reach_the_receiver_after_an_outage_exactly_once(tmp_path):
    port = free_port()
    (tmp_path / "token").write_text("stats-token\n")
    cfg = _config(tmp_path, port)
    Path(cfg.storage.state_dir).mkdir(parents=True)
    outbox = Outbox.from_config(cfg)
    uplink = Uplink.from_config(cfg, outbox)
    uplink.start()  # the platform is down: deliveries fail and back off
    receiver = None
    try:
        stats = StatsService(cfg, outbox)
        _a_day(stats, MIDNIGHT)
        _a_day(stats, MIDNIGHT + 86400)
        stats.tick(MIDNIGHT + 2 * 86400 + 1800 + 5, camera_ok=True)  # 2026-11-30 00:30:05: both days due
        assert [r["kind"] for r in outbox.list_pending()] == ["daily", "daily"]
        wait_until(lambda: uplink.health()["last_error"], 10, what="a failed delivery while the receiver is down")
        stats.close(MIDNIGHT + 2 * 86400 + 1810)

        stats = StatsService(cfg, outbox)  # the agent restarts: nothing is queued twice
        stats.tick(MIDNIGHT + 2 * 86400 + 3600, camera_ok=True)
        assert len(outbox.list_pending()) == 2

        receiver = start_receiver(port, tmp_path / "receiver.db", tmp_path / "token")
        wait_until(lambda: outbox.counts()["pending"] == 0, 60, 0.1, "the outbox to drain")
        store = ReceiverStore(tmp_path / "receiver.db")
        try:
            rows = store.daily(device_id="stats-room")
        finally:
            store.close()
        assert sorted(r["doc"]["date"] for r in rows) == ["2026-11-28", "2026-11-29"]
        for r in rows:
            assert abs(r["doc"]["bins"]["bin-1"]["added_l"] - 0.30 * 240) <= 0.05 * 0.30 * 240
            assert r["doc"]["coverage"]["fill_data_minutes"] == 360
        assert outbox.stats()["destinations"]["http"]["delivered_total"] == 2  # once per day, no resend
        stats.tick(MIDNIGHT + 2 * 86400 + 7200, camera_ok=True)
        assert outbox.counts()["pending"] == 0
        stats.close(MIDNIGHT + 2 * 86400 + 7200)
    finally:
        uplink.stop()
        outbox.close()
        stop(receiver)
