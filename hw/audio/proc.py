"""Run a child process with a hard timeout: on expiry its whole process group is killed."""
from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ProcResult:
    returncode: int | None  # None when it was killed at the timeout
    stdout: str
    stderr: str
    timed_out: bool


def run_killable(
    cmd: Sequence[str],
    timeout_s: float,
    on_started: Callable[[], None] | None = None,
    env: dict[str, str] | None = None,
) -> ProcResult:
    """Run `cmd`, calling `on_started` as soon as the process exists.

    Raises FileNotFoundError / PermissionError when the program cannot be started. The child
    runs in its own session so that a hung program *and* anything it spawned are killed.
    """
    proc = subprocess.Popen(
        list(cmd), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True, env=env, text=True, errors="replace",
    )
    if on_started is not None:
        on_started()
    try:
        out, err = proc.communicate(timeout=timeout_s)
        return ProcResult(proc.returncode, out, err, False)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        try:
            out, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:  # a grandchild still holds the pipes open
            out, err = "", ""
        return ProcResult(None, out or "", err or "", True)
    except BaseException:
        _kill_group(proc)
        proc.wait()
        raise


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
