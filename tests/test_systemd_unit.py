"""The unit file passes `systemd-analyze verify` and carries the hardening the design asks for; sd_notify speaks the protocol."""
from __future__ import annotations

import configparser
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from edge.runtime.liveness import Liveness
from edge.runtime.sdnotify import Notifier, watchdog_interval_s

UNIT = Path(__file__).resolve().parent.parent / "systemd" / "garbage-edge.service"


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(UNIT)
    return parser


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_unit_verifies(tmp_path):
    # verify checks that ExecStart exists: point it at this environment's gedge
    gedge = Path(sys.executable).with_name("gedge")
    assert gedge.exists()
    text = UNIT.read_text().replace("/opt/garbage-edge/venv/bin/gedge", str(gedge))
    unit = tmp_path / "garbage-edge.service"
    unit.write_text(text)
    run = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    problems = [line for line in run.stderr.splitlines() if "garbage-edge.service" in line]
    assert run.returncode == 0 and not problems, run.stderr


def test_unit_verify_catches_a_broken_unit(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    unit = tmp_path / "garbage-edge.service"
    unit.write_text("[Service]\nType=notify\nExecStart=relative/path\n")
    run = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    assert run.returncode != 0 or "garbage-edge.service" in run.stderr


def test_unit_settings():
    unit = _unit()
    service, section = unit["Service"], unit["Unit"]
    assert service["Type"] == "notify"
    assert int(service["WatchdogSec"]) > 0
    assert service["Restart"] == "on-failure" and 1 <= int(service["RestartSec"]) <= 10
    assert "StartLimitIntervalSec" in section and "StartLimitBurst" in section
    assert service["User"] == "garbage-edge"
    assert set(service["SupplementaryGroups"].split()) == {"gpio", "spi", "i2c", "dialout", "video", "audio"}
    for key in ("StateDirectory", "CacheDirectory", "ConfigurationDirectory"):
        assert service[key] == "garbage-edge"
    assert service["LoadCredential"].startswith("platform-token:")
    assert service["ProtectSystem"] == "strict"
    for key in ("PrivateTmp", "ProtectHome", "NoNewPrivileges"):
        assert service[key] == "yes"
    assert "PrivateDevices" not in service


def test_notifier_sends_datagrams(tmp_path):
    path = str(tmp_path / "notify.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(2)
    try:
        notifier = Notifier(path)
        assert notifier.ready("loops running")
        assert server.recv(1024) == b"READY=1\nSTATUS=loops running"
        assert notifier.watchdog()
        assert server.recv(1024) == b"WATCHDOG=1"
        notifier.close()
    finally:
        server.close()


def test_notifier_without_systemd_is_silent(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = Notifier()
    assert not notifier.enabled and notifier.ready() is False


def test_watchdog_interval_is_half_the_timeout(monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert watchdog_interval_s() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", "1")
    assert watchdog_interval_s() is None


def test_liveness_needs_every_loop():
    live = Liveness(max_age_s=5, required=("camera", "sensors", "uplink"))
    for loop in ("camera", "sensors", "uplink"):
        live.beat(loop, 100.0)
    assert live.stale(104.0) == []
    live.beat("sensors", 110.0)
    live.beat("uplink", 110.0)
    assert live.stale(110.0) == ["camera"]


def test_notifier_never_blocks_on_a_full_socket(tmp_path):
    """A notify socket nobody reads must not stall the agent's main loop."""
    path = str(tmp_path / "full.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    try:
        notifier = Notifier(path)
        results = [notifier.watchdog() for _ in range(5000)]  # far more than the queue holds
        assert results[0] is True and results[-1] is False
        notifier.close()
    finally:
        server.close()
