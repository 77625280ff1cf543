"""The voice worker: one thread that renders (if needed) and plays reminders, one at a time.

Nothing else ever waits on audio: `say()` puts the request on a bounded queue and returns at
once; when the queue is full the request is dropped (and counted). A request that waited
longer than `max_delay_s` is dropped as stale: a reminder about a bag must come at once or
not at all. Failures (no espeak-ng, no aplay, no sound card, a hung player) are logged once
per distinct error and counted in `health()`; the worker carries on.

    worker = VoiceWorker(renderer, player, play_timeout_s=20, queue_size=4)
    worker.start()
    worker.prerender(policy.render_jobs())   # at start and after the prompts/config change
    worker.say(policy.decide(...))           # non-blocking; returns False when dropped
    worker.health()  # {"played", "failed", "dropped", "stale", "killed", "render_failed", …}
    worker.stop()

`renderer` is `hw.audio.Renderer` (or anything with `wav_for(text, voice, rate, volume)`),
`player` is `hw.audio.AplayPlayer` / `SimPlayer`.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable

from hw.audio import RenderError, cache_key
from hw.audio.wav import wav_info

from .policy import PlayRequest

log = logging.getLogger(__name__)


class VoiceWorker:
    def __init__(
        self,
        renderer,
        player,
        play_timeout_s: float = 20.0,
        queue_size: int = 4,
        max_delay_s: float = 10.0,
        on_started: Callable[[PlayRequest, float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.renderer = renderer
        self.player = player
        self.play_timeout_s = play_timeout_s
        self.max_delay_s = max_delay_s
        self.on_started = on_started  # (request, seconds from say() to the player starting)
        self._clock = clock
        self._q: queue.Queue[tuple[PlayRequest, float]] = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._prerender_thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._last_logged: str | None = None
        self._health = {
            "played": 0, "failed": 0, "dropped": 0, "stale": 0, "killed": 0,
            "render_failed": 0, "prerendered": 0, "last_error": None, "last_latency_s": None,
            "last_played": None,
        }

    # --- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="voice", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float | None = None) -> None:
        """Stop after the prompt being played (bounded by the play timeout)."""
        self._stop.set()
        for t in (self._thread, self._prerender_thread):
            if t is not None:
                t.join(self.play_timeout_s + 5 if timeout_s is None else timeout_s)

    # --- the interface ------------------------------------------------------------------
    def say(self, request: PlayRequest | None) -> bool:
        """Queue a request; never blocks. False when there was nothing to say or no room."""
        if request is None:
            return False
        try:
            self._q.put_nowait((request, self._clock()))
            return True
        except queue.Full:
            self._count("dropped")
            self._error(f"speaker busy: dropped {request.prompt!r} (queue of {self._q.maxsize} full)")
            return False

    def prerender(self, jobs: Iterable[tuple[str, str, int, int]], prune: bool = True) -> threading.Thread:
        """Render (text, voice, rate, volume) jobs in the background; drop cached files not
        among them when all went well. Returns the thread (join it to wait)."""
        jobs = list(jobs)
        t = threading.Thread(target=self._prerender, args=(jobs, prune), name="voice-prerender", daemon=True)
        self._prerender_thread = t
        t.start()
        return t

    def health(self) -> dict:
        with self._lock:
            h = dict(self._health)
        h["queued"] = self._q.qsize()
        h["running"] = self._thread is not None and self._thread.is_alive()
        return h

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until every queued request is finished (tests, the CLI). False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._q.all_tasks_done:
            while self._q.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._q.all_tasks_done.wait(left)
        return True

    # --- inside the thread ---------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                request, queued_at = self._q.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self._speak(request, queued_at)
            except Exception as e:  # a bug here must not silence the room for good
                log.exception("voice worker: unexpected error")
                self._count("failed")
                self._set("last_error", f"unexpected: {e}")
            finally:
                self._q.task_done()

    def _speak(self, request: PlayRequest, queued_at: float) -> None:
        waited = self._clock() - queued_at
        if waited > self.max_delay_s:
            self._count("stale")
            self._error(f"dropped stale {request.prompt!r}: waited {waited:.1f} s for the speaker")
            return
        try:
            wav = self.renderer.wav_for(request.text, request.voice, request.rate, request.volume)
        except (RenderError, OSError, ValueError) as e:
            self._count("render_failed")
            self._count("failed")
            self._error(f"cannot render {request.prompt!r}: {e}")
            return

        def started() -> None:
            latency = self._clock() - queued_at
            self._set("last_latency_s", latency)
            if self.on_started is not None:
                self.on_started(request, latency)

        result = self.player.play(wav, self.play_timeout_s, on_started=started)
        if result.ok:
            self._count("played")
            self._set("last_played", request.prompt)
            self._last_logged = None  # the next failure is news again
            log.info("spoke %s (zone %s, volume %d%%)", request.prompt, request.zone, request.volume)
            return
        self._count("failed")
        if result.timed_out:
            self._count("killed")
        self._error(result.error or "player failed")

    def _prerender(self, jobs: list[tuple[str, str, int, int]], prune: bool) -> None:
        keys: set[str] = set()
        failed = 0
        for text, voice, rate, volume in jobs:
            if self._stop.is_set():
                return
            try:
                path = self.renderer.wav_for(text, voice, rate, volume)
                keys.add(cache_key(text, voice, rate))
                self._count("prerendered")
                if (length := wav_info(path).duration_s) >= self.play_timeout_s:
                    log.warning("a prompt lasts %.1f s but play_timeout_s is %g s: it will be cut off "
                                "(raise voice.play_timeout_s or shorten %r)", length, self.play_timeout_s, text)
            except (RenderError, OSError, ValueError, EOFError) as e:
                failed += 1
                self._count("render_failed")
                self._error(f"cannot pre-render a prompt: {e}")
                if isinstance(e, RenderError) and "cannot start" in str(e):
                    break  # the same for every prompt: say it once
        if failed == 0 and prune and hasattr(self.renderer, "prune"):
            removed = self.renderer.prune(keys)
            if removed:
                log.info("removed %d outdated voice files", removed)
        log.info("pre-rendered %d prompt files (%d failed)", len(jobs) - failed, failed)

    # --- counters --------------------------------------------------------------------------
    def _count(self, name: str) -> None:
        with self._lock:
            self._health[name] += 1

    def _set(self, name: str, value) -> None:
        with self._lock:
            self._health[name] = value

    def _error(self, message: str) -> None:
        self._set("last_error", message)
        # journald must not fill with the same line every minute: log each distinct error once
        if message != self._last_logged:
            log.warning("voice: %s", message)
            self._last_logged = message
        else:
            log.debug("voice: %s", message)
