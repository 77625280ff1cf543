"""The agent's local control socket: JSON lines on a Unix socket, for the console and `gedge status`.

    server = ControlServer(path, {"state": fn, "frame": fn, ...}); server.start(); ...; server.stop()
    answer = ask(path, {"op": "state"})          # the client side: one request, one answer

One request per connection: the client writes one JSON object on one line ({"op": NAME, ...}),
the server writes one JSON line back ({"ok": true, ...} or {"ok": false, "error": CODE,
"message": TEXT}) and closes. One daemon thread serves the socket, one client at a time; each
read and write has a short timeout and a request is at most MAX_REQUEST bytes, so a slow, dead
or hostile client delays only other clients, never the agent. The handlers answer from
snapshots the agent already keeps (see edge.runtime.agent's control_* methods).

The socket is made mode 0660 (the agent's user and group: the console's unit runs in that group).
"""
from __future__ import annotations

import json
import logging
import os
import socket
import socketserver
import threading
from pathlib import Path
from typing import Any, Callable, Mapping

log = logging.getLogger(__name__)

SOCKET_MODE = 0o660
MAX_REQUEST = 4096  # bytes of one request line
IO_TIMEOUT_S = 2.0  # a client that sends or reads no faster than this is dropped
MAX_ANSWER = 16 * 1024 * 1024  # what a client reads at most (a frame is a few hundred kB)

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class ControlError(Exception):
    """No answer: no agent on the socket, a refused request, or a broken answer.
    `code`: "no_agent" | "timeout" | "bad_answer", or the code the agent refused a request with
    ("unknown_op", "unknown_relay", "min_off", …); `message`: one English line."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class RequestError(Exception):
    """Raised by a handler for a request it refuses (unknown relay, bad argument)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _answer(handlers: Mapping[str, Handler], line: bytes) -> dict[str, Any]:
    """The answer to one request line (pure apart from what the handler does)."""
    if len(line) > MAX_REQUEST or not line.endswith(b"\n"):
        return {"ok": False, "error": "too_long", "message": f"a request is one line of at most {MAX_REQUEST} bytes"}
    try:
        req = json.loads(line)
    except ValueError:
        return {"ok": False, "error": "bad_request", "message": "not a JSON object"}
    if not isinstance(req, dict) or not isinstance(req.get("op"), str):
        return {"ok": False, "error": "bad_request", "message": 'expected {"op": NAME, ...}'}
    handler = handlers.get(req["op"])
    if handler is None:
        return {"ok": False, "error": "unknown_op", "message": f"unknown op {req['op']!r} (known: {', '.join(sorted(handlers))})"}
    try:
        return {"ok": True, **handler(req)}
    except RequestError as e:
        return {"ok": False, "error": e.code, "message": e.message}
    except Exception as e:  # a handler bug answers, never ends the control thread
        log.exception("control request %s failed", req["op"])
        return {"ok": False, "error": "internal", "message": f"{type(e).__name__}: {e}"}


class _RequestHandler(socketserver.StreamRequestHandler):
    timeout = IO_TIMEOUT_S

    def handle(self) -> None:
        try:
            line = self.rfile.readline(MAX_REQUEST + 1)
        except OSError:  # the client sent too slowly or went away
            return
        if not line:
            return
        answer = _answer(self.server.handlers, line)  # type: ignore[attr-defined]
        try:
            self.wfile.write(json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
            self.wfile.flush()
        except OSError:
            pass  # the client did not wait for its answer


class _Server(socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = False

    def handle_error(self, request, client_address) -> None:
        log.exception("control socket: error serving a client")


class ControlServer:
    def __init__(self, path: str | os.PathLike, handlers: Mapping[str, Handler]):
        self.path = Path(path)
        self.handlers = dict(handlers)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind and serve. Raises ControlError("refused") when another live agent answers on the
        path (its socket is left alone), OSError when the folder is not usable."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() or self.path.is_symlink():
            if _answers(self.path):
                raise ControlError("refused", f"another agent already answers on {self.path}")
            self.path.unlink()  # left by an agent that did not stop cleanly
        server = _Server(str(self.path), _RequestHandler, bind_and_activate=False)
        try:
            server.server_bind()
            os.chmod(self.path, SOCKET_MODE)
            server.server_activate()
        except BaseException:
            server.server_close()
            raise
        server.handlers = self.handlers  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5},
                                        name="control", daemon=True)
        self._thread.start()
        log.info("control socket %s", self.path)

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(IO_TIMEOUT_S + 1)
        try:
            self.path.unlink()
        except OSError:
            pass
        self._server = None


def _answers(path: Path) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(0.5)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


def ask(path: str | os.PathLike, request: Mapping[str, Any], timeout_s: float = 5.0) -> dict[str, Any]:
    """Send one request, return the answer's fields (without "ok"). Raises ControlError."""
    path = Path(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout_s)
    try:
        try:
            s.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise ControlError("no_agent", f"no agent answers on {path} (is it running?)") from None
        except PermissionError:
            raise ControlError("no_agent", f"{path}: permission denied (run as the agent's user or group)") from None
        try:
            s.sendall(json.dumps(dict(request), separators=(",", ":")).encode() + b"\n")
            data = bytearray()
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                if len(data) > MAX_ANSWER:
                    raise ControlError("bad_answer", f"answer from {path} is larger than {MAX_ANSWER} bytes")
        except socket.timeout:
            raise ControlError("timeout", f"the agent on {path} did not answer within {timeout_s:g} s") from None
        except OSError as e:
            raise ControlError("no_agent", f"{path}: {e.strerror or e}") from None
    finally:
        s.close()
    try:
        answer = json.loads(data)
    except ValueError:
        raise ControlError("bad_answer", f"not a JSON answer from {path}") from None
    if not isinstance(answer, dict) or "ok" not in answer:
        raise ControlError("bad_answer", f"not an answer from {path}")
    if not answer.pop("ok"):
        raise ControlError(str(answer.get("error")), str(answer.get("message")))
    return answer


FRAME_QUALITY = 80
STATE_TTL_S = 0.5  # clients polling faster than this share one state (the agent's cost stays flat)
RELAY_TEST_S = (1.0, 60.0)  # shortest and longest relay test
RELAY_TEST_DEFAULT_S = 5.0


class AgentControl:
    """The control socket's handlers, on whichever agent the service runs now (a config reload
    replaces it). `current()` -> the Agent (or None while starting); `info()` -> the service's
    own facts (pid, config path, when the config was loaded, the last reload's outcome)."""

    def __init__(self, current: Callable[[], Any], info: Callable[[], dict[str, Any]],
                 clock: Callable[[], float] | None = None):
        import time

        self.current = current
        self.info = info
        self.clock = clock or time.monotonic
        self._state: tuple[float, Any, dict[str, Any]] | None = None  # (when, agent, answer)
        self._frame: tuple[Any, float, dict[str, Any]] | None = None  # (agent, frame time, answer)

    def handlers(self) -> dict[str, Handler]:
        return {"state": self.state, "frame": self.frame, "speak": self.speak, "relay_test": self.relay_test}

    def _agent(self):
        agent = self.current()
        if agent is None:
            raise RequestError("starting", "the agent is starting")
        return agent

    def state(self, _req: dict[str, Any]) -> dict[str, Any]:
        agent, now = self._agent(), self.clock()
        cached = self._state
        if cached is None or cached[1] is not agent or now - cached[0] >= STATE_TTL_S:
            try:
                fresh = {"state": agent.control_state(self.info())}
            except Exception:  # the agent is being replaced (a reload stops its parts): the last answer holds
                if cached is None:
                    raise
                log.debug("state not available now; answering the last one", exc_info=True)
                return cached[2]
            cached = self._state = (now, agent, fresh)
        return cached[2]

    def frame(self, _req: dict[str, Any]) -> dict[str, Any]:
        """The newest camera frame as it came (no zones drawn), JPEG in base64; encoded once per frame."""
        import base64

        import cv2

        agent = self._agent()
        latest = agent.control_frame()
        if latest is None:
            raise RequestError("no_frame", "no camera frame yet")
        frame, t = latest
        cached = self._frame
        if cached is None or cached[0] is not agent or cached[1] != t:
            ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, FRAME_QUALITY])
            if not ok:
                raise RequestError("no_frame", "the frame could not be encoded")
            answer = {"jpeg_b64": base64.b64encode(buf.tobytes()).decode("ascii"), "t": round(t, 3),
                      "size": [int(frame.shape[1]), int(frame.shape[0])]}
            cached = self._frame = (agent, t, answer)
        return cached[2]

    def speak(self, _req: dict[str, Any]) -> dict[str, Any]:
        return {"queued": bool(self._agent().control_speak())}

    def relay_test(self, req: dict[str, Any]) -> dict[str, Any]:
        agent = self._agent()
        rid = req.get("relay")
        seconds = req.get("seconds", RELAY_TEST_DEFAULT_S)
        if not isinstance(rid, str) or not rid:
            raise RequestError("bad_request", 'relay_test needs {"relay": ID}')
        low, high = RELAY_TEST_S
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not low <= seconds <= high:
            raise RequestError("bad_request", f"seconds must be a number from {low:g} to {high:g}")
        outcome = agent.control_relay_test(rid, float(seconds))
        if outcome == "on":
            return {"relay": rid, "on": True, "seconds": float(seconds)}
        messages = {"unknown": f"no relay {rid!r}", "busy": f"relay {rid!r} is on already",
                    "min_off": f"relay {rid!r} is inside its minimum off time",
                    "timeout": "the agent's incident thread did not answer"}
        raise RequestError("unknown_relay" if outcome == "unknown" else outcome, messages.get(outcome, outcome))
