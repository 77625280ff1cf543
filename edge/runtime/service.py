"""`gedge run`: the agent as a service — signals, config reload, systemd notify and watchdog.

- SIGTERM / SIGINT: stop cleanly (inputs first, then the pending uplink work is given a moment)
  and exit 0.
- SIGHUP: read the config file again; when it validates, the agent is rebuilt on it; when it
  does not, every problem is logged and the agent keeps running on the old one.
- READY=1 once the loops run; WATCHDOG=1 only while the camera, sensor and uplink loops are
  all alive; STATUS= a short summary whenever it changes.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Callable

from ..config import ConfigError, load_file
from ..config.schema import refuse_simulation
from .agent import Agent, Listener
from .memory import trim_heap
from .sdnotify import Notifier, watchdog_interval_s

log = logging.getLogger(__name__)

TICK_S = 0.5
TRIM_EVERY_S = 5.0


class StartError(Exception):
    """The agent could not start; `exit_code` 2 when the config names something unusable, else 1."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


def start_agent(cfg, base_dir: Path | None, **kw) -> Agent:
    """Build and start an Agent, turning the known start failures into one clear StartError."""
    from hw.camera import CameraError

    from ..uplink.secrets import SecretError
    from ..vision.detector import ModelError

    agent = Agent(cfg, base_dir, **kw)
    try:
        agent.start()
    except (ModelError, SecretError) as e:
        agent.stop()
        raise StartError(str(e), 2) from None
    except (CameraError, OSError) as e:
        agent.stop()
        raise StartError(f"cannot start: {e}", 1) from None
    return agent


class Service:
    def __init__(self, config_path: Path, *, allow_missing_token: bool = False, listener: Listener | None = None,
                 notifier: Notifier | None = None, seed: int = 0,
                 agent_factory: Callable[..., Agent] = start_agent, on_delivered: Callable | None = None,
                 simulation: bool = False):
        self.config_path = Path(config_path)
        self.simulation = simulation  # False: a sim: camera or sim sensor is a config error
        self.allow_missing_token = allow_missing_token
        self.listener = listener
        self.notifier = notifier or Notifier()
        self.seed = seed
        self.agent_factory = agent_factory
        self.on_delivered = on_delivered
        self.agent: Agent | None = None
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._last_status = ""
        self._last_watchdog = 0.0
        self._stale_logged: tuple[str, ...] = ()
        self.control = None  # the control socket (edge.runtime.control), once the agent runs
        self._started_at = time.time()
        self._loaded_at: float | None = None
        self._last_reload: dict | None = None

    def _build(self, cfg, voice_memory: dict | None = None) -> Agent:
        return self.agent_factory(cfg, self.config_path.parent, allow_missing_token=self.allow_missing_token,
                                  listener=self.listener, seed=self.seed, on_delivered=self.on_delivered,
                                  voice_memory=voice_memory)

    def _load(self):
        cfg = load_file(self.config_path)
        if not self.simulation:
            refuse_simulation(cfg, self.config_path)
        return cfg

    def request_stop(self, *_args) -> None:
        self._stop.set()

    def request_reload(self, *_args) -> None:
        self._reload.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGHUP, self.request_reload)

    def run(self, duration_s: float | None = None) -> int:
        """Start, supervise until stopped (or for duration_s), stop. Returns the exit code."""
        cfg = self._load()  # ConfigError goes to the caller: exit 2
        self.agent = self._build(cfg)
        self._loaded_at = time.time()
        self._start_control()
        self.notifier.ready(self.agent.summary())
        log.info("ready")
        ends_at = None if duration_s is None else time.monotonic() + duration_s
        ping_every = min(watchdog_interval_s() or 1.0, 1.0)
        last_trim = time.monotonic()
        try:
            while not self._stop.wait(TICK_S):
                if ends_at is not None and time.monotonic() >= ends_at:
                    break
                if self._reload.is_set():
                    self._reload.clear()
                    self.reload()
                self._supervise(ping_every)
                if time.monotonic() - last_trim >= TRIM_EVERY_S:
                    last_trim = time.monotonic()
                    trim_heap()
        finally:
            self.notifier.stopping()
            if self.control is not None:
                self.control.stop()
            if self.agent is not None:
                self.agent.stop()
        return 0

    def _start_control(self) -> None:
        """The control socket for the console and `gedge status`; the agent runs without it
        when it cannot be made (logged: those tools then say the agent is not reachable)."""
        from ..paths import control_socket_path
        from .control import AgentControl, ControlError, ControlServer

        path = control_socket_path(self.agent.cfg.storage)
        if self.control is not None:
            if self.control.path == path:
                return
            self.control.stop()  # a reload moved the storage folders
            self.control = None
        server = ControlServer(path, AgentControl(lambda: self.agent, self.control_info).handlers())
        try:
            server.start()
        except (ControlError, OSError) as e:
            log.error("no control socket (%s): the console and `gedge status` cannot reach this agent", e)
            return
        self.control = server

    def control_info(self) -> dict:
        """The service's side of the control socket's `state`."""
        from .. import __version__

        return {"pid": os.getpid(), "version": __version__, "config_path": str(self.config_path),
                "started_at": self._started_at, "config_loaded_at": self._loaded_at,
                "last_reload": self._last_reload, "simulation": self.simulation}

    def _supervise(self, ping_every: float) -> None:
        agent = self.agent
        now = time.monotonic()
        agent.tick(now)
        stale = tuple(agent.stale_loops(now))
        if not stale:
            if now - self._last_watchdog >= ping_every:
                self.notifier.watchdog()
                self._last_watchdog = now
        elif stale != self._stale_logged:
            log.error("loop(s) not alive: %s; withholding the watchdog", ", ".join(stale))
        self._stale_logged = stale
        status = agent.summary() if not stale else f"loop(s) not alive: {', '.join(stale)}"
        if status != self._last_status:
            self.notifier.status(status)
            self._last_status = status

    def reload(self) -> bool:
        """Re-read the config; rebuild the agent on it when valid, keep the old one otherwise."""
        try:
            cfg = self._load()
        except ConfigError as e:
            for line in e.problems:
                log.error("reload refused: %s", line)
            log.error("config reload refused; still running on the previous config")
            self._last_reload = {"at": time.time(), "ok": False, "problems": list(e.problems)}
            return False
        self.notifier.reloading()
        log.info("reloading the config from %s", self.config_path)
        old = self.agent
        old.stop()
        memory = old.voice_memory()  # read after stop: no thread is deciding any more
        try:
            self.agent = self._build(cfg, memory)
            self._last_reload = {"at": time.time(), "ok": True, "problems": []}
        except StartError as e:
            log.error("the new config cannot start (%s); going back to the previous one", e)
            self.agent = self._build(old.cfg, memory)
            self._last_reload = {"at": time.time(), "ok": False, "problems": [str(e)]}
        self._loaded_at = time.time()
        self._start_control()
        self.notifier.ready(self.agent.summary())
        return True
