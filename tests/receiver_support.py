"""Helpers for the platform-server tests: a throwaway PostgreSQL cluster, contract documents,
a server fixture over either store."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class PostgresCluster:
    """initdb + pg_ctl in a temp dir, listening on a unix socket only (no TCP port to collide on).
    PostgreSQL refuses to run as root: as root the cluster runs as the `postgres` (or `nobody`) user."""

    def __init__(self):
        self.bin = postgres_bin()
        if self.bin is None:
            pytest.skip("PostgreSQL server binaries not installed (Debian package postgresql)")
        self.dir = Path(tempfile.mkdtemp(prefix="gedge-pg-"))
        self.data, self.sock = self.dir / "data", self.dir / "sock"
        self.sock.mkdir()
        self.user = None
        if os.geteuid() == 0:
            for name in ("postgres", "nobody"):
                try:
                    self.user = pwd.getpwnam(name)
                    break
                except KeyError:
                    continue
            os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
            os.chown(self.sock, self.user.pw_uid, self.user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "gedge", "--no-sync", "-E", "UTF8")
        # fsync stays on: the figures and behaviour are those of a real server
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "-t", "30", "-o",
                  f"-c listen_addresses='' -c unix_socket_directories='{self.sock}' -c max_connections=50", "start")
        self.url = f"postgresql://gedge@/postgres?host={self.sock}"

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bin / tool), *args]
        if self.user is not None:
            cmd = ["runuser", "-u", self.user.pw_name, "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120, cwd=str(self.dir))

    def new_database(self) -> str:
        import psycopg

        name = "t" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url, autocommit=True) as c:
            c.execute(f"CREATE DATABASE {name}")
        return f"postgresql://gedge@/{name}?host={self.sock}"

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


SITE = {"community": "飘鹰居民区", "point_id": "HK-JXL-0317", "address": "示例路 1 号",
        "responsible": {"name": "示例物业", "phone": "021-00000000"}}


def incident(device="dev-1", type_="bag_outside_bin", state="open", rev=1, iid=None, snapshot=None, **extra) -> dict:
    t = "2026-11-28T19:02:11.412+08:00"
    meas = {"bag_outside_bin": {"dwell_s": 61.0, "count": 1, "seen_by": "detector"}, "bin_full": {"fill_pct": 93.0},
            "odor_high": {"nh3_ppm": 12.0}}.get(type_, {"reason": "test"})
    doc = {"schema": "garbage-edge/incident@1", "id": iid or str(uuid.uuid4()), "rev": rev, "device_id": device,
           "type": type_, "state": state, "severity": "warning", "opened_at": t, "updated_at": t,
           "resolved_at": t if state == "resolved" else None, "site": SITE,
           "subject": {"zone": "floor", "bin_id": None, "sensor_id": None}, "measurements": meas,
           "reminders": 0, "snapshot": snapshot}
    doc.update(extra)
    return doc


def telemetry(device="dev-1", fill=72.5, nh3=3.1) -> dict:
    return {"schema": "garbage-edge/telemetry@1", "device_id": device, "sent_at": "2026-11-28T19:02:12.001+08:00",
            "readings": {"bin-1": {"fill_pct": fill}, "odor-1": {"nh3_ppm": nh3, "h2s_ppm": 0.02}},
            "health": {"uptime_s": 86400, "camera": "ok", "sensors": {"bin-1": "ok", "odor-1": "ok"},
                       "outbox_pending": 0, "dead_letters": 0, "disk_free_mb": 5120, "cpu_temp_c": 51.2}}


def daily(device="dev-1", date="2026-11-28", added=410.5) -> dict:
    return {"schema": "garbage-edge/daily@1", "device_id": device, "date": date,
            "bins": {"bin-1": {"waste_type": "wet", "capacity_l": 240, "added_l": added, "added_kg_est": added * 0.6,
                               "emptied": 2, "full_minutes": 35}},
            "by_waste_type": {"wet": {"added_l": added, "added_kg_est": added * 0.6}},
            "incidents": {"bag_outside_bin": {"opened": 5, "resolved": 5, "median_open_s": 380}},
            "reminders": 7, "coverage": {"fill_data_minutes": 1420, "camera_ok_minutes": 1438}}


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def wait_for(pred, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
