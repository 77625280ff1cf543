"""A serial sensor emulator: real datasheet frames written into a pty, for tests and the demo.

`PtyPair` starts `socat` with two linked pseudo-terminals (the "sensor" end and the "box"
end); closing it makes the box end vanish exactly like an unplugged USB adapter.
`SensorEmulator` plays a sensor on the sensor end: it writes auto-output frames at a rate,
or answers requests (0x55 for a triggered ultrasonic sensor, the ZE03 Q&A read command).

    python -m hw.sensors.emulator a02yy --link /tmp/bin1 --value 800
    gedge sensors read --config site.yaml     # with port: /tmp/bin1 in the config
"""
from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable

from .protocols import (
    A02YY_TRIGGER, ZE03_QA_REQUEST, ZE03_SET_QA_MODE, a02yy_frame, ze03_frame, ze03_qa_reply,
)


class PtyPair:
    """`socat -d -d pty,raw,echo=0,link=A pty,raw,echo=0,link=B`; `a` and `b` are the link paths."""

    def __init__(self, a: str | Path, b: str | Path) -> None:
        self.a, self.b = Path(a), Path(b)
        self.proc: subprocess.Popen | None = None

    def open(self, timeout_s: float = 5.0) -> "PtyPair":
        socat = shutil.which("socat")
        if socat is None:
            raise RuntimeError("socat is not installed")
        self.proc = subprocess.Popen(
            [socat, "-d", "-d", f"pty,raw,echo=0,link={self.a}", f"pty,raw,echo=0,link={self.b}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        # socat logs "starting data transfer loop" once both ptys exist
        deadline = time.monotonic() + timeout_s
        assert self.proc.stderr is not None
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            if b"starting data transfer loop" in line:
                threading.Thread(target=self._drain, daemon=True).start()
                return self
        self.close()
        raise RuntimeError("socat did not create the pty pair")

    def _drain(self) -> None:
        proc = self.proc
        if proc is not None and proc.stderr is not None:
            for _ in proc.stderr:
                pass

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        # socat removes its links on a clean exit; make sure even after a kill
        for p in (self.a, self.b):
            if p.is_symlink():
                p.unlink(missing_ok=True)

    def __enter__(self) -> "PtyPair":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()


def frame_for(protocol: str, value: float | None, gas: str = "nh3", decimals: int = 1) -> bytes:
    """The frame a sensor of `protocol` sends for `value` (None: an a02yy no-echo frame)."""
    if protocol in ("a02yy", "a02yy-triggered"):
        return a02yy_frame(0 if value is None else int(round(value)))
    if protocol == "ze03":
        return ze03_frame(gas, value or 0.0, decimals=decimals)
    if protocol == "ze03-qa":
        return ze03_qa_reply(value or 0.0, decimals=decimals)
    if protocol == "jsonl":
        return (json.dumps({"id": gas, "distance_mm": value}) + "\n").encode()
    raise ValueError(f"unknown protocol {protocol!r}")


class SensorEmulator:
    """Plays one sensor on a pty end. `value_fn(t)` gives the value at t seconds (None: skip)."""

    def __init__(self, path: str | Path, protocol: str, value_fn: Callable[[float], float | None], *,
                 period_s: float = 0.1, gas: str = "nh3", decimals: int = 1, auto: bool = True) -> None:
        """auto=False: send nothing by itself (answer requests only; `write` sends by hand)."""
        self.path = Path(path)
        self.auto = auto
        self.protocol = protocol
        self.value_fn = value_fn
        self.period_s = period_s
        self.gas = gas
        self.decimals = decimals
        self.requests = 0
        self.mode_switches = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._fd: int | None = None

    def start(self) -> "SensorEmulator":
        self._fd = os.open(self.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self._thread = threading.Thread(target=self._run, name=f"emulator-{self.path.name}", daemon=True)
        self._thread.start()
        return self

    def write(self, data: bytes) -> None:
        """Send raw bytes (garbage, split frames, bursts) straight into the line."""
        assert self._fd is not None
        view = memoryview(data)
        while view:
            try:
                n = os.write(self._fd, view)
                view = view[n:]
            except BlockingIOError:
                time.sleep(0.001)

    def _run(self) -> None:
        t0 = time.monotonic()
        polled = self.protocol in ("a02yy-triggered",)
        buf = bytearray()
        next_at = t0
        while not self._stop.is_set():
            # sleep until a request arrives or the next auto-output frame is due
            wait = max(0.0, min(next_at - time.monotonic(), 0.05)) if self.auto and not polled else 0.05
            try:
                ready, _, _ = select.select([self._fd], [], [], wait)
                if ready:
                    buf += os.read(self._fd, 256)
            except BlockingIOError:
                pass
            except (OSError, ValueError, TypeError):  # fd closed by stop()
                return
            t = time.monotonic() - t0
            # requests from the box
            while buf:
                if buf[:1] == A02YY_TRIGGER and self.protocol == "a02yy-triggered":
                    del buf[:1]
                    self.requests += 1
                    self._send(self.protocol, t)
                elif len(buf) >= 9 and bytes(buf[:9]) == ZE03_QA_REQUEST:
                    del buf[:9]
                    self.requests += 1
                    self._send("ze03-qa", t)
                elif len(buf) >= 9 and bytes(buf[:9]) == ZE03_SET_QA_MODE:
                    del buf[:9]
                    self.mode_switches += 1
                    polled = True  # Q&A mode: the module stops uploading
                elif len(buf) >= 9 and buf[0] == 0xFF:
                    del buf[:9]  # another command: ignored, as the module does
                elif buf[0] == 0xFF and len(buf) < 9:
                    break
                else:
                    del buf[:1]
            if self.auto and not polled and time.monotonic() >= next_at:
                self._send(self.protocol, t)
                next_at = max(next_at + self.period_s, time.monotonic() - self.period_s)

    def _send(self, protocol: str, t: float) -> None:
        v = self.value_fn(t)
        if v is None and protocol != "a02yy":
            return
        try:
            self.write(frame_for(protocol, v, self.gas, self.decimals))
        except OSError:
            pass  # the box end is gone; keep going, it may come back

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class EmulatedSensors:
    """Several sensors on pty pairs: the box end of each is `dev/ID`, its emulator plays
    `value_fn(ID, t)` in the given protocol. For the demo and end-to-end tests."""

    def __init__(self, dev: str | Path, sensors: list[tuple[str, str]],
                 value_fn: Callable[[str, float], float | None], period_s: float = 0.2) -> None:
        self.pairs: list[PtyPair] = []
        self.emulators: list[SensorEmulator] = []
        dev = Path(dev)
        try:
            for sensor_id, protocol in sensors:
                pair = PtyPair(dev / f"{sensor_id}.sensor", dev / sensor_id).open()
                self.pairs.append(pair)
                self.emulators.append(SensorEmulator(pair.a, protocol, lambda t, s=sensor_id: value_fn(s, t),
                                                     period_s=period_s).start())
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for emu in self.emulators:
            emu.stop()
        for pair in self.pairs:
            pair.close()


def _interrupt(*_args) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="emulate a serial sensor on a socat pty pair")
    p.add_argument("protocol", choices=["a02yy", "a02yy-triggered", "ze03", "jsonl"])
    p.add_argument("--link", required=True, help="path of the pty the agent opens (its `port:`)")
    p.add_argument("--value", type=float, default=800.0, help="distance mm or ppm to report")
    p.add_argument("--gas", default="nh3", help="ze03: the gas; jsonl: the id")
    p.add_argument("--period", type=float, default=0.1, help="seconds between auto-output frames")
    args = p.parse_args(argv)
    sensor_end = Path(str(args.link) + ".sensor")
    with PtyPair(sensor_end, args.link):
        emu = SensorEmulator(sensor_end, args.protocol, lambda t: args.value, period_s=args.period, gas=args.gas).start()
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        emu.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
