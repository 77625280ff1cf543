"""Helpers for the incident / outbox / uplink / receiver tests: real processes on loopback."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def receiver_in_thread(db: Path, token: str = "t0k"):
    """A real receiver on a free loopback port, served from a thread: yields (server, store)."""
    from edge.receiver import ReceiverServer, ReceiverStore

    store = ReceiverStore(db)
    server = ReceiverServer("127.0.0.1", 0, store, token=token)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server, store
    finally:
        server.shutdown()
        store.close()


def wait_until(pred, timeout: float, step: float = 0.02, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


def start_receiver(port: int, db: Path, token_file: Path | None = None, extra: list[str] = ()) -> subprocess.Popen:
    """`gedge receiver` as its own process; returns once it answers /v1/health."""
    cmd = [sys.executable, "-m", "edge", "receiver", "--host", "127.0.0.1", "--port", str(port), "--db", str(db)]
    if token_file:
        cmd += ["--token-file", str(token_file)]
    cmd += list(extra)
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(cmd, cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def up():
        if proc.poll() is not None:
            raise AssertionError(f"receiver exited {proc.returncode}: {proc.stderr.read().decode()}")
        try:
            return requests.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=0.5).ok
        except requests.RequestException:
            return False

    wait_until(up, 15, 0.05, "gedge receiver to listen")
    return proc


def stop(proc: subprocess.Popen | None, kill: bool = False) -> None:
    if proc is None or proc.poll() is not None:
        return
    if kill:
        proc.kill()
    else:
        proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def jpeg(n: int = 0, size: int = 64) -> bytes:
    """A small byte string that passes as a JPEG (SOI marker … EOI)."""
    body = (f"picture-{n}-".encode() * (size // 10 + 1))[:size]
    return b"\xff\xd8\xff\xe0" + body + b"\xff\xd9"
