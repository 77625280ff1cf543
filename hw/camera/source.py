"""The capture thread: one per camera, keeping only the newest frame.

A lost or unopenable source is retried with exponential backoff (reconnect_initial_s doubling
to reconnect_max_s); health() reports the measured frame rate and faults, including a stall (no
frame for stall_timeout_s even though the source did not report an error).
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Callable

import cv2
import numpy as np

from .base import CameraError, CameraHealth, Grabber

log = logging.getLogger(__name__)


class CameraSource:
    """start() / stop() / latest() -> (frame, t) | None / health() -> CameraHealth.

    t is the clock (default time.monotonic) when the frame arrived. Frames whose size differs
    from (width, height) are resized, since the zones are drawn in those pixels.
    """

    def __init__(self, grabber: Grabber, name: str, width: int, height: int, fps: float,
                 reconnect_initial_s: float = 1.0, reconnect_max_s: float = 30.0, stall_timeout_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic):
        self.grabber = grabber
        self.name = name
        self.width, self.height, self.fps = width, height, fps
        self.reconnect_initial_s = reconnect_initial_s
        self.reconnect_max_s = reconnect_max_s
        self.stall_timeout_s = stall_timeout_s
        self.clock = clock
        self._lock = threading.Lock()
        self._new = threading.Condition(self._lock)
        self._frame: np.ndarray | None = None
        self._t: float | None = None
        self._frames = 0
        self._reconnects = 0
        self._error: str | None = None
        self._times: deque[float] = deque(maxlen=64)  # recent frame times, for the measured rate
        self._started_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._warned_resize = False
        self._frames_since_open = 0
        self._in_driver_since: float | None = None  # set while inside the grabber's open()/read()

    # ----- public

    def start(self) -> "CameraSource":
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        self._started_at = self.clock()
        self._thread = threading.Thread(target=self._run, name=f"camera {self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._new:
            self._new.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                # blocked in a driver read: it closes the source itself when the read times out;
                # releasing it from here, under a running read, could crash the driver
                log.warning("camera %s: capture thread still in a read after %.0f s", self.name, timeout)
                return
        self._thread = None

    def __enter__(self) -> "CameraSource":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def latest(self) -> tuple[np.ndarray, float] | None:
        """The newest frame and its time, or None before the first frame."""
        with self._lock:
            if self._frame is None or self._t is None:
                return None
            return self._frame, self._t

    def wait_frame(self, timeout: float, after: float | None = None) -> tuple[np.ndarray, float] | None:
        """Block until a frame newer than `after` (any frame when None) arrives, at most timeout seconds."""
        deadline = time.monotonic() + timeout
        with self._new:
            while not self._stop.is_set():
                if self._frame is not None and self._t is not None and (after is None or self._t > after):
                    return self._frame, self._t
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._new.wait(min(left, 0.1))
        return None

    def heartbeat(self) -> float:
        """For the watchdog: now while capture is not inside a driver call, else when that call began
        (a driver read that never returns shows as an ever older beat). -inf when the thread died."""
        if self._thread is None or not self._thread.is_alive():
            return float("-inf") if self._started_at is not None and not self._stop.is_set() else time.monotonic()
        since = self._in_driver_since
        return time.monotonic() if since is None else since

    def health(self) -> CameraHealth:
        now = self.clock()
        with self._lock:
            running = self._thread is not None and self._thread.is_alive()
            age = None if self._t is None else max(0.0, now - self._t)
            size = None if self._frame is None else (self._frame.shape[1], self._frame.shape[0])
            recent = [x for x in self._times if now - x <= 3.0]
            fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) >= 2 and recent[-1] > recent[0] else 0.0
            base = dict(source=self.name, fps=fps,
                        frames=self._frames, reconnects=self._reconnects, last_frame_age_s=age, size=size)
            if not running:
                return CameraHealth("stopped", reason=self._error, **base)
            if self._error is not None:
                return CameraHealth("fault", reason=self._error, **base)
            if age is None:
                waited = now - (self._started_at or now)
                if waited > self.stall_timeout_s:
                    return CameraHealth("fault", reason=f"no frame {waited:.0f} s after start", **base)
                return CameraHealth("starting", **base)
            if age > self.stall_timeout_s:
                return CameraHealth("fault", reason=f"stalled: no frame for {age:.0f} s", **base)
            return CameraHealth("ok", **base)

    # ----- capture thread

    def _run(self) -> None:
        delay = self.reconnect_initial_s
        first_attempt = True
        while not self._stop.is_set():
            if not first_attempt:
                with self._lock:
                    self._reconnects += 1
            first_attempt = False
            try:
                self._in_driver_since = time.monotonic()
                self.grabber.open()
                self._in_driver_since = None
                got_frame = self._read_loop()
            except CameraError as e:
                got_frame = self._frames_since_open > 0
                self._fault(str(e))
            except Exception as e:  # a driver bug must not end capture for good
                got_frame = False
                log.exception("camera %s: unexpected error", self.name)
                self._fault(f"unexpected error: {e}")
            finally:
                self._in_driver_since = None
                self.grabber.close()
            if self._stop.is_set():
                break
            if got_frame:
                delay = self.reconnect_initial_s  # it worked for a while: start the backoff over
            log.info("camera %s: reconnecting in %.1f s", self.name, delay)
            self._stop.wait(delay)
            delay = min(delay * 2.0, self.reconnect_max_s)

    def _read_loop(self) -> bool:
        self._frames_since_open = 0
        period = 1.0 / self.fps
        next_due = time.monotonic()
        while not self._stop.is_set():
            if self.grabber.paced:
                wait = next_due - time.monotonic()
                if wait > 0 and self._stop.wait(wait):
                    break
                next_due = max(next_due + period, time.monotonic() - period)
            self._in_driver_since = time.monotonic()
            frame = self.grabber.read()
            self._in_driver_since = None
            if frame.shape[1] != self.width or frame.shape[0] != self.height:
                if not self._warned_resize:
                    log.warning("camera %s delivers %dx%d; resizing to the configured %dx%d", self.name,
                                frame.shape[1], frame.shape[0], self.width, self.height)
                    self._warned_resize = True
                frame = cv2.resize(frame, (self.width, self.height), interpolation=cv2.INTER_AREA)
            self._frames_since_open += 1
            self._store(frame)
        return self._frames_since_open > 0

    def _store(self, frame: np.ndarray) -> None:
        t = self.clock()
        with self._new:
            self._times.append(t)
            recovered = self._error is not None
            self._frame, self._t = frame, t
            self._frames += 1
            self._error = None
            self._new.notify_all()
        if recovered:
            log.warning("camera %s: recovered", self.name)

    def _fault(self, reason: str) -> None:
        with self._lock:
            first = self._error != reason
            self._error = reason
        if first:
            log.warning("camera %s: %s", self.name, reason)
