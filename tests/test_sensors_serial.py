"""Serial sensors through real socat pty pairs: datasheet frames, split frames, garbage, bursts,
polled modes, a shared co-processor port, and unplug -> sensor_fault -> recovery without restarts."""
from __future__ import annotations

import shutil
import threading
import time

import pytest

from edge.config import Config
from edge.sensing.manager import SensorManager
from hw.sensors.drivers import SerialDriver
from hw.sensors.emulator import PtyPair, SensorEmulator
from hw.sensors.protocols import a02yy_frame
from hw.sensors.transport import SerialTransport

pytestmark = pytest.mark.skipif(shutil.which("socat") is None, reason="socat is not installed (apt install socat)")


@pytest.fixture
def line(tmp_path):
    """make(name) -> (PtyPair, box_path): a pty pair whose box end is tmp_path/name."""
    opened: list = []

    def make(name: str = "tty0"):
        pair = PtyPair(tmp_path / f"{name}.sensor", tmp_path / name).open()
        opened.append(pair)
        return pair

    yield make
    for thing in reversed(opened):
        thing.close()


@pytest.fixture
def emulators():
    running: list[SensorEmulator] = []

    def start(*args, **kw) -> SensorEmulator:
        emu = SensorEmulator(*args, **kw).start()
        running.append(emu)
        return emu

    yield start
    for emu in running:
        emu.stop()


def collect(driver, seconds: float, want: int | None = None):
    stop = threading.Event()
    out = []
    end = time.monotonic() + seconds
    while time.monotonic() < end and (want is None or len(out) < want):
        out += driver.poll(stop)
    return out


def serial_driver(path, protocol, **kw):
    return SerialDriver(protocol, SerialTransport(str(path), read_timeout_s=0.05, backoff_initial_s=0.1, backoff_max_s=0.3), **kw)


def test_a02yy_datasheet_frames_through_a_pty(line, emulators):
    pair = line()
    emulators(pair.a, "a02yy", lambda t: 1953, period_s=0.02)
    d = serial_driver(pair.b, "a02yy")
    try:
        out = collect(d, 3.0, want=5)
    finally:
        d.close()
    assert len(out) >= 5
    assert {s.value for s in out} == {1953.0} and out[0].raw == "ff 07 a1 a7"


def test_split_frames_garbage_and_bursts(line, emulators):
    pair = line()
    emu = emulators(pair.a, "a02yy", lambda t: None, auto=False)  # silent: we write by hand
    d = serial_driver(pair.b, "a02yy")
    stop = threading.Event()
    try:
        d.poll(stop)  # open the box end first: bytes sent to a closed pty end are lost
        frame = a02yy_frame(1953)
        emu.write(frame[:1])
        time.sleep(0.05)
        emu.write(frame[1:3])
        time.sleep(0.05)
        emu.write(frame[3:])
        emu.write(b"\x00\x13\x37\xff\x01\x02")  # garbage including a false start with a bad sum
        burst = b"".join(a02yy_frame(300 + i) for i in range(200))  # 800 bytes in one go
        emu.write(burst + a02yy_frame(0) + a02yy_frame(4000))
        out = collect(d, 3.0, want=202)
    finally:
        d.close()
    values = [s.value for s in out]
    assert values == [1953.0] + [300.0 + i for i in range(200)] + [4000.0]
    st = d.stats()
    assert st["garbled"] >= 1 and st["no_echo"] == 1


def test_triggered_a02yy_asks_with_0x55(line, emulators):
    pair = line()
    emu = emulators(pair.a, "a02yy-triggered", lambda t: 777)
    d = serial_driver(pair.b, "a02yy-triggered", poll_s=0.1)
    try:
        out = collect(d, 3.0, want=3)
    finally:
        d.close()
    assert [s.value for s in out][:3] == [777.0] * 3
    assert emu.requests >= 3


def test_ze03_active_upload(line, emulators):
    pair = line()
    emulators(pair.a, "ze03", lambda t: 12.3, period_s=0.05, gas="nh3")
    d = serial_driver(pair.b, "ze03", gas="nh3")
    try:
        out = collect(d, 3.0, want=3)
    finally:
        d.close()
    assert len(out) >= 3 and {(s.quantity, s.value) for s in out} == {("nh3_ppm", 12.3)}


def test_ze03_question_and_answer_mode(line, emulators):
    pair = line()
    emu = emulators(pair.a, "ze03", lambda t: 4.5, period_s=0.05, gas="h2s", decimals=2)
    d = serial_driver(pair.b, "ze03", mode="qa", gas="h2s", decimals=2, poll_s=0.1)
    try:
        out = collect(d, 3.0, want=6)
    finally:
        d.close()
    assert emu.mode_switches == 1  # the driver switched the module to Q&A on connect
    assert emu.requests >= 1
    # after the switch the module only answers: replies are FF 86 frames read with the configured gas/decimals
    assert out[-1].raw.startswith("ff 86") and (out[-1].quantity, out[-1].value) == ("h2s_ppm", 4.5)


def config(sensors: list[dict], **rules) -> Config:
    return Config.model_validate({"sensors": sensors, "rules": rules or {}})


def wait_for(pred, timeout_s: float) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


@pytest.mark.parametrize("board_mode", ["a02yy-triggered", "a02yy"])  # JSN-SR04T mode 3, mode 2
def test_jsn_sr04t_uart_driver_reads_either_uart_mode(line, emulators, board_mode):
    pair = line()
    emu = emulators(pair.a, board_mode, lambda t: 1953, period_s=0.05)
    cfg = config([{"id": "bin-1-level", "kind": "fill", "driver": "jsn-sr04t-uart", "port": str(pair.b),
                   "empty_mm": 2000, "full_mm": 200, "poll_s": 0.1}])
    readings = []
    with SensorManager(cfg, on_reading=readings.append):
        assert wait_for(lambda: len(readings) >= 3, 3)
    assert {r.raw for r in readings} == {1953.0}
    if board_mode == "a02yy-triggered":
        assert emu.requests >= 3  # it asked with 0x55


def test_jsonl_port_shared_by_two_sensors(line, emulators):
    pair = line()
    emu = emulators(pair.a, "jsonl", lambda t: None, auto=False)
    cfg = config([
        {"id": "bin-1-level", "kind": "fill", "driver": "jsonl", "port": str(pair.b), "json_id": "bin-1",
         "empty_mm": 1000, "full_mm": 200},
        {"id": "odor-1", "kind": "odor", "driver": "jsonl", "port": str(pair.b), "gas": "nh3"},
    ])
    readings = []
    with SensorManager(cfg, on_reading=readings.append) as mgr:
        assert len(mgr.devices) == 1  # one reader for the shared port
        assert wait_for(lambda: mgr.snapshot()["odor-1"]["status"] == "ok", 3)
        emu.write(b'{"id": "bin-1", "distance_mm": 600}\n{"id": "odor-1", "nh3_ppm": 3.1}\n'
                  b'{"id": "bin-9", "distance_mm": 100}\n')
        assert wait_for(lambda: len(readings) >= 2, 3)
    got = {(r.sensor_id, r.quantity, r.value) for r in readings}
    assert got == {("bin-1-level", "fill_pct", 50.0), ("odor-1", "nh3_ppm", 3.1)}


def test_unplug_gives_sensor_fault_and_recovers_without_restart(line, emulators, tmp_path):
    pair = line("ttyUSB0")
    emulators(pair.a, "a02yy", lambda t: 600, period_s=0.05)
    cfg = config([{"id": "bin-1-level", "kind": "fill", "driver": "a02yy", "port": str(pair.b), "empty_mm": 1000,
                   "full_mm": 200, "timeout_s": 1.0, "reconnect_max_s": 0.3}])
    readings, events = [], []
    with SensorManager(cfg, on_reading=readings.append, on_event=events.append) as mgr:
        assert wait_for(lambda: len(readings) >= 3, 3)
        assert readings[-1].value == 50.0 and events == []

        pair.close()  # unplugged: the pty and its link vanish
        t_unplug = time.monotonic()
        assert wait_for(lambda: any(e.type == "sensor_fault" for e in events), 3)
        fault = events[0]
        assert fault.action == "open" and fault.subject["sensor_id"] == "bin-1-level"
        assert fault.t - t_unplug <= 1.0 + 0.5  # within timeout_s (plus one tick and a read)
        assert "lost" in fault.measurements["reason"] or "cannot open" in fault.measurements["reason"]
        assert mgr.snapshot()["bin-1-level"]["state"] == "fault"

        n = len(readings)
        pair2 = line("ttyUSB0")  # plugged back in: same path, a new pty
        emulators(pair2.a, "a02yy", lambda t: 360, period_s=0.05)
        assert wait_for(lambda: any(e.action == "resolve" for e in events), 5)
        assert wait_for(lambda: len(readings) > n, 2)
        assert readings[-1].value == 80.0
        assert [(e.action, e.type) for e in events] == [("open", "sensor_fault"), ("resolve", "sensor_fault")]
        stats = mgr.snapshot()["bin-1-level"]["stats"]
        assert stats["reconnects"] >= 1 and stats["losses"] >= 1
        assert all(d.thread.is_alive() for d in mgr.devices)  # the same reader thread all along


def test_port_absent_at_start_faults_then_appears(line, emulators, tmp_path):
    path = tmp_path / "late"
    cfg = config([{"id": "odor-1", "kind": "odor", "driver": "ze03", "port": str(path), "gas": "nh3",
                   "timeout_s": 0.5, "reconnect_max_s": 0.2}])
    readings, events = [], []
    with SensorManager(cfg, on_reading=readings.append, on_event=events.append):
        assert wait_for(lambda: events, 2)
        assert events[0].action == "open" and "cannot open" in events[0].measurements["reason"]
        pair = line("late")
        emulators(pair.a, "ze03", lambda t: 2.0, period_s=0.05, gas="nh3")
        assert wait_for(lambda: len(readings) >= 1 and len(events) >= 2, 4)
    assert events[1].action == "resolve" and readings[0].value == 2.0


def test_a_second_reader_is_refused_not_fed_half_the_bytes(line, emulators):
    pair = line()
    emulators(pair.a, "a02yy", lambda t: 500, period_s=0.02)
    first = serial_driver(pair.b, "a02yy")
    second = serial_driver(pair.b, "a02yy")
    try:
        assert collect(first, 2.0, want=2)
        assert collect(second, 0.3) == []
        assert "lock" in second.status()
    finally:
        first.close()
        second.close()
