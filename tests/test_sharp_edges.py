"""Small things a technician met on site: each is a clear line and the right exit code now."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edge.cli import main
from edge.incidents import IncidentBook, Subject
from edge.outbox import Outbox

ROOT = Path(__file__).resolve().parent.parent


def _gedge(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, **kw)


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_receiver_with_an_impossible_port_is_a_usage_error(port):
    run = _gedge("receiver", "--port", port, "--db", "/nonexistent/never-opened.sqlite")
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr and "--port" in run.stderr and port in run.stderr


def test_backup_list_into_a_closed_pipe_is_not_a_failed_backup(config_file):
    for _ in range(3):
        assert main(["--config", str(config_file), "config", "backup"]) == 0
    proc = subprocess.Popen([sys.executable, "-m", "edge", "--config", str(config_file), "config", "backup", "--list"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    proc.stdout.close()  # `| head -0`: the reader is gone before the first line
    err = proc.stderr.read().decode()
    proc.wait(60)
    assert "backup failed" not in err and "Broken pipe" not in err and "Traceback" not in err, err


def _outbox_with_a_dead_letter(tmp_path: Path) -> tuple[Path, int]:
    path = tmp_path / "outbox.sqlite"
    box = Outbox(path)
    try:
        book = IncidentBook("edge-room", {"point_id": "P-1"}, "Asia/Shanghai")
        box.enqueue_incident(book.open("bin_full", Subject(bin_id="bin-1"), {"fill_pct": 95.0}, 1795863731.0))
        item = box.pending("http")[0]
        box.dead_letter(item, 400, "bad document")
        seq = box.dead_letters()[0]["seq"]
    finally:
        box.close()
    return path, seq


def test_retry_of_a_number_that_is_no_dead_letter_says_so(tmp_path, capsys):
    db, seq = _outbox_with_a_dead_letter(tmp_path)
    assert main(["outbox", "retry", "--db", str(db), str(seq + 99)]) == 1
    err = capsys.readouterr().err
    assert f"#{seq + 99}" in err and "gedge outbox dead" in err
    assert main(["outbox", "purge", "--db", str(db), str(seq + 98)]) == 1
    assert f"#{seq + 98}" in capsys.readouterr().err
    assert main(["outbox", "retry", "--db", str(db), str(seq)]) == 0  # a real one: back in the queue
    out = capsys.readouterr()
    assert out.err == "" and "1" in out.out


def test_zones_show_on_a_picture_without_image_says_what_is_missing(config_file, tmp_path, capsys):
    code = main(["--config", str(config_file), "zones", "show", "--on", str(tmp_path / "room.jpg")])
    assert code == 2
    err = capsys.readouterr().err
    assert "--image" in err and "room.jpg" in err


def test_sim_render_says_how_far_it_is(tmp_path):
    run = _gedge("sim", "render", "bag_dropped_outside", str(tmp_path / "clip.mp4"), "--duration", "2",
                 "--size", "160x120", "--fps", "5")
    assert run.returncode == 0, run.stderr
    steps = [ln for ln in run.stderr.splitlines() if "frames (" in ln]
    assert len(steps) >= 5 and steps[-1].endswith("10/10 frames (100 %)"), run.stderr
    assert "frames (" not in run.stdout, "stdout keeps only the summary"
