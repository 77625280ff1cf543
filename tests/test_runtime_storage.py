"""The box's own disk and state failing under the agent: real faults, nothing lost.

- a tmpfs filled to ENOSPC and freed, a filesystem remounted read-only and back (real mounts;
  skipped with the reason where mounting is not permitted);
- each damage mode of the outbox file (bad header, truncated, zeroed page, not a database);
- a restart after the conditions cleared while the agent was down;
- a missing or read-only state directory at start, and the files' modes.
In each, every incident the agent decided on reaches the platform at its newest revision, with
no revision gap and no duplicate subject.
"""
from __future__ import annotations

import errno
import os
import sqlite3
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.config.edit import edited_text
from edge.config.loader import validate_text
from edge.incidents import IncidentBook, SnapshotStore
from edge.outbox import Outbox, OutboxDamaged
from edge.runtime.agent import Agent
from edge.sensing.alarms import AlarmEvent, Reading
from edge.uplink import Uplink
from edge.uplink.http import HttpTransport
from edge.uplink.retry import RetrySchedule
from edge.vision.bag_rules import BagEvent
from platform_stub import Platform

ROOT = Path(__file__).resolve().parent.parent
SITE = {"community": "c", "point_id": "P-1"}


class NoDetector:
    def detect(self, frame):
        return []


def _jpeg(seed: int = 0) -> bytes:
    img = np.random.default_rng(seed).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return buf.tobytes()


def _wait(pred, timeout=15.0, tick=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if tick is not None:
            tick()
        if pred():
            return True
        time.sleep(0.05)
    return False


# ---------------------------------------------------------------------------- real mounts

def _can_mount() -> str | None:
    """None when this machine lets the tests mount a tmpfs and remount it read-only, else why not."""
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root (CAP_SYS_ADMIN)"
    return None


class Tmpfs:
    """A small tmpfs at a unique mount point; unmounted by the fixture whatever happens."""

    def __init__(self, where: Path, size_kb: int):
        self.path = where
        where.mkdir(parents=True)
        run = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0755", "tmpfs", str(where)],
                             capture_output=True, text=True)
        if run.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {run.stderr.strip()}")

    def remount(self, mode: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{mode}", str(self.path)], check=True, capture_output=True)

    def fill_more(self) -> Path:
        return self.fill("filler-2")

    def fill(self, name: str = "filler") -> Path:
        """Write a filler file until the filesystem says ENOSPC."""
        filler = self.path / name
        with open(filler, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\1" * 4096)
            except OSError as e:
                assert e.errno == errno.ENOSPC
        return filler

    def close(self) -> None:
        subprocess.run(["mount", "-o", "remount,rw", str(self.path)], capture_output=True)
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True)


class Card:
    """An ext4 image on a loop device, mounted `errors=remount-ro` the way a box mounts its SD
    card. `fail()` makes the kernel turn it read-only under open files (ext4's emergency
    read-only, what a failing card gets); `repair()` is the technician's fsck and mount again
    at the same place."""

    def __init__(self, where: Path, size_mb: int = 32):
        self.path = where
        self.image = where.with_name(where.name + ".img")
        self.devices: list[str] = []
        where.mkdir(parents=True)
        with open(self.image, "wb") as f:
            f.truncate(size_mb * 1024 * 1024)
        mk = subprocess.run(["mkfs.ext4", "-q", "-F", str(self.image)], capture_output=True, text=True)
        if mk.returncode != 0:
            pytest.skip(f"cannot make an ext4 image here: {mk.stderr.strip() or 'mkfs.ext4 missing'}")
        self._mount()

    def _mount(self) -> None:
        # a loop device of its own each time (mount -o loop would reuse the failed one)
        dev = subprocess.run(["losetup", "-f", "--show", str(self.image)], capture_output=True, text=True)
        if dev.returncode != 0:
            pytest.skip(f"no loop device here: {dev.stderr.strip()}")
        self.devices.append(dev.stdout.strip())
        run = subprocess.run(["mount", "-o", "errors=remount-ro", self.devices[-1], str(self.path)],
                             capture_output=True, text=True)
        if run.returncode != 0:
            pytest.skip(f"cannot mount an ext4 image here: {run.stderr.strip()}")
        self.trigger = Path("/sys/fs/ext4") / Path(self.devices[-1]).name / "trigger_fs_error"

    def fail(self) -> None:
        if not self.trigger.exists():
            pytest.skip("this kernel has no ext4 trigger_fs_error to turn a filesystem read-only")
        self.trigger.write_text("1\n")
        probe = self.path / "probe"
        with pytest.raises(OSError):
            probe.write_text("x")

    def repair(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=True, capture_output=True)
        subprocess.run(["e2fsck", "-fy", str(self.image)], capture_output=True)
        self._mount()

    def close(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True)
        for dev in self.devices:  # detached now, or as soon as the last open file closes
            subprocess.run(["losetup", "-d", dev], capture_output=True)


@pytest.fixture
def card(tmp_path):
    why = _can_mount()
    if why:
        pytest.skip(why)
    made = []

    def make(size_mb: int = 32) -> Card:
        c = Card(tmp_path / f"card-{uuid.uuid4().hex[:8]}", size_mb)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def tmpfs(tmp_path):
    why = _can_mount()
    if why:
        pytest.skip(why)
    made = []

    def make(size_kb: int = 4096) -> Tmpfs:
        fs = Tmpfs(tmp_path / f"mnt-{uuid.uuid4().hex[:8]}", size_kb)
        made.append(fs)
        return fs

    yield make
    for fs in made:
        fs.close()


@pytest.fixture
def platform():
    p = Platform()
    yield p
    p.close()


def _uplink(outbox: Outbox, platform: Platform, snaps=None) -> Uplink:
    t = HttpTransport(platform.base_url, "box-1", None, True, 2.0, 5.0)
    return Uplink(outbox, [t], lambda: RetrySchedule(0.05, 0.2), snapshots=snaps, idle_poll_s=0.1)


def _book():
    return IncidentBook("box-1", SITE, "Asia/Shanghai")


# ---------------------------------------------------------------------------- the outbox alone

def _revisions(book, n: int, t0: float) -> list[dict]:
    """n alarm-like revisions over a few subjects: opens, updates, resolves."""
    docs = []
    for i in range(n):
        subject = {"bin_id": f"bin-{i % 5}", "sensor_id": f"s-{i % 5}"}
        if i % 3 == 2:
            d = book.resolve("bin_full", subject, t0 + i, {"fill_pct": 10.0})
        else:
            d = book.open("bin_full", subject, {"fill_pct": 90.0 + i % 7}, t0 + i)
        if d:
            docs.append(d)
    return docs


def test_disk_full_revisions_wait_in_memory_in_order_and_go_out(tmpfs, platform):
    fs = tmpfs(2048)
    box = Outbox(fs.path / "outbox.sqlite")
    up = _uplink(box, platform)
    up.start()
    try:
        book = _book()
        before = _revisions(book, 6, time.time())
        for d in before:
            box.enqueue_incident(d)
        filler = fs.fill()
        during = _revisions(book, 75, time.time())
        for d in during:
            box.enqueue_incident(d)  # never raises for a full disk
        assert box.storage_error and "full" in box.storage_error
        assert box.held() > 0
        # what waits in memory is already sent: the platform need not wait for the disk
        newest = {d["id"]: d["rev"] for d in before + during}
        assert _wait(lambda: {i: d["rev"] for i, d in platform.latest.items()} == newest)
        filler.unlink()
        assert box.flush() and box.storage_error is None and box.held() == 0
        assert _wait(lambda: box.counts()["pending"] == 0)
        # the disk now holds the newest revision of everything (a restart restores from it)
        assert box.latest_revisions() == newest
        platform.check_no_gap_no_duplicate()
    finally:
        up.stop()
        box.close()


def test_read_only_card_revisions_wait_go_out_and_are_written_when_mounted_again(card, platform):
    c = card()
    box = Outbox(c.path / "outbox.sqlite")
    box.reopen_s = 0.0
    book = _book()
    up = _uplink(box, platform)
    up.start()
    try:
        first = _revisions(book, 4, time.time())
        for d in first:
            box.enqueue_incident(d)
        assert _wait(lambda: box.counts()["pending"] == 0)
        c.fail()  # the kernel turns the card read-only under the open outbox
        during = _revisions(book, 20, time.time())
        for d in during:
            box.enqueue_incident(d)
        assert box.storage_error and box.held() == len(during)
        newest = {d["id"]: d["rev"] for d in first + during}
        assert _wait(lambda: {i: d["rev"] for i, d in platform.latest.items()} == newest), "sent from memory"
        assert not box.flush()
        c.repair()
        assert box.flush() and box.held() == 0 and box.storage_error is None
        assert box.latest_revisions() == newest
        assert _wait(lambda: box.counts()["pending"] == 0)
        platform.check_no_gap_no_duplicate()
    finally:
        up.stop()
        box.close()


def test_killed_during_a_fault_the_next_start_continues_from_what_the_platform_has(card, platform, tmp_path):
    c = card()
    note = tmp_path / "run" / "sent-from-memory.json"  # the runtime directory (tmpfs, kept across restarts)
    note.parent.mkdir()
    box = Outbox(c.path / "outbox.sqlite", memory_note=note)
    book = _book()
    up = _uplink(box, platform)
    up.start()
    first = _revisions(book, 6, time.time())
    for d in first:
        box.enqueue_incident(d)
    assert _wait(lambda: box.counts()["pending"] == 0)
    c.fail()
    during = _revisions(book, 12, time.time())
    for d in during:
        box.enqueue_incident(d)
    newest = {d["id"]: d["rev"] for d in first + during}
    assert _wait(lambda: {i: d["rev"] for i, d in platform.latest.items()} == newest), "sent from memory"
    up.stop()
    box._db.close()  # killed: what only memory held never reached the disk
    assert note.is_file()
    c.repair()
    again = Outbox(c.path / "outbox.sqlite", memory_note=note)
    try:
        assert again.latest_revisions() == newest, "restored from what the platform already has"
        assert not note.exists()
        restored = IncidentBook("box-1", SITE, "Asia/Shanghai", restore=again.open_incidents())
        nxt = restored.resolve("bin_full", {"bin_id": "bin-0", "sensor_id": "s-0"}, time.time()) or \
            restored.open("bin_full", {"bin_id": "bin-0", "sensor_id": "s-0"}, {"fill_pct": 99.0}, time.time())
        assert nxt["rev"] == platform.latest[nxt["id"]]["rev"] + 1, "the next revision follows the platform's"
        again.enqueue_incident(nxt)
        up = _uplink(again, platform)
        up.start()
        try:
            assert _wait(lambda: again.counts()["pending"] == 0)
        finally:
            up.stop()
        assert platform.latest[nxt["id"]]["rev"] == nxt["rev"]
        platform.check_no_gap_no_duplicate()
    finally:
        again.close()


def test_injected_storage_errors_take_the_same_path(tmp_path):
    """The logic with an OSError(ENOSPC / EROFS) at the storage layer (covers machines without mounts)."""
    box = Outbox(tmp_path / "o.sqlite")
    book = _book()
    real = box._tx
    failing = {"on": True}

    class Refuse:
        def __enter__(self):
            raise sqlite3.OperationalError("database or disk is full")

        def __exit__(self, *a):
            return False

    box._tx = lambda: Refuse() if failing["on"] else real()
    docs = _revisions(book, 9, time.time())
    for d in docs:
        assert box.enqueue_incident(d)
    assert box.held() == len(docs) and box.storage()["error"] == "database or disk is full"
    assert [i.rev for i in box.pending("http") if i.incident_id == docs[0]["id"]] == [1, 2, 3][:len(
        [d for d in docs if d["id"] == docs[0]["id"]])]
    failing["on"] = False
    assert box.flush()
    assert box.latest_revisions() == {d["id"]: d["rev"] for d in docs}
    box.close()


def test_the_memory_backlog_is_bounded_and_drops_superseded_revisions_first(tmp_path):
    box = Outbox(tmp_path / "o.sqlite", held_max=5)
    box.storage_error = "refused"
    box._tx = lambda: (_ for _ in ()).throw(OSError(errno.EROFS, "Read-only file system"))
    book = _book()
    a = book.open("bin_full", {"bin_id": "a"}, {"fill_pct": 91.0}, 1.0)
    docs = [a] + [book.update("bin_full", {"bin_id": "a"}, 2.0 + i, measurements={"fill_pct": 92.0 + i}) for i in range(3)]
    others = [book.open("odor_high", {"sensor_id": f"o{i}"}, {"nh3_ppm": 20.0}, 9.0) for i in range(3)]
    for d in docs + others:
        box.enqueue_incident(d)
    held = [(h.prepared[0], h.prepared[1]) for h in box._held]
    assert len(held) == 5 and box.storage()["held_dropped"] == 2
    # the newest revision of every incident still waits; what went was superseded
    assert (a["id"], 4) in held and all((o["id"], 1) in held for o in others)
    box.close()


def test_a_picture_the_disk_refuses_leaves_nothing_and_the_quota_keeps_min_free(tmpfs):
    fs = tmpfs(1024)
    store = SnapshotStore(fs.path / "snaps", quota_bytes=10 * 1024 * 1024, min_free_bytes=600 * 1024)
    metas = [store.put_pruning(_jpeg(i))[0] for i in range(40)]
    # the quota is far away, but the free-space floor pruned the oldest pictures
    free = os.statvfs(fs.path).f_bavail * os.statvfs(fs.path).f_frsize
    assert free >= 600 * 1024 - 64 * 1024 and not store.has(metas[0]["sha256"]) and store.has(metas[-1]["sha256"])
    filler = fs.fill()
    # a full disk: the store first prunes old pictures to make room for the new one
    meta, pruned = store.put_pruning(_jpeg(98))
    assert pruned and store.has(meta["sha256"])
    # nothing left to prune: the disk refuses, and no half-written file stays behind
    empty = SnapshotStore(fs.path / "other", quota_bytes=10 * 1024 * 1024)
    more = fs.fill_more()
    with pytest.raises(OSError):
        empty.put(_jpeg(99))
    assert not list((fs.path / "other").iterdir())
    filler.unlink()
    more.unlink()


# ---------------------------------------------------------------------------- damaged outbox

def _damage(path: Path, mode: str) -> None:
    data = path.read_bytes()
    if mode == "bad_header":
        path.write_bytes(b"SQLite format 9\0" + data[16:])
    elif mode == "truncated":
        path.write_bytes(data[: len(data) // 3])
    elif mode == "zeroed_page":
        page = int.from_bytes(data[16:18], "big") or 65536
        path.write_bytes(data[:page] + b"\0" * page + data[2 * page:])
    elif mode == "not_a_database":
        path.write_bytes(b"this is a log file, not a database\n" * 200)


def _filled_outbox(path: Path, n: int = 60) -> list[dict]:
    box = Outbox(path)
    book = _book()
    docs = _revisions(book, n, time.time())
    for d in docs:
        box.enqueue_incident(d)
    box._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    box.close()
    return docs


@pytest.mark.parametrize("mode", ["bad_header", "truncated", "zeroed_page", "not_a_database"])
def test_a_damaged_outbox_is_moved_aside_and_a_fresh_one_started(tmp_path, mode):
    path = tmp_path / "outbox.sqlite"
    _filled_outbox(path)
    _damage(path, mode)
    assert Outbox.inspect(path) is not None
    with pytest.raises(OutboxDamaged):
        Outbox(path, recover=False)
    box = Outbox(path)
    try:
        assert box.recovered and "moved aside" in box.recovered
        aside = list(tmp_path.glob("outbox.sqlite.damaged-*"))
        assert len([p for p in aside if not p.name.endswith(("-wal", "-shm"))]) == 1
        assert Outbox.inspect(path) is None  # the fresh one is sound
        d = _book().open("bin_full", {"bin_id": "x"}, {"fill_pct": 95.0}, time.time())
        assert box.enqueue_incident(d) and box.pending("http")[-1].incident_id == d["id"]
    finally:
        box.close()


def test_gedge_outbox_status_reports_the_damage_in_one_line(tmp_path):
    path = tmp_path / "outbox.sqlite"
    _filled_outbox(path, 3)
    _damage(path, "not_a_database")
    run = subprocess.run([sys.executable, "-m", "edge", "outbox", "status", "--db", str(path)],
                         capture_output=True, text=True, timeout=60, cwd=str(ROOT))
    assert run.returncode == 1, run.stdout + run.stderr
    lines = [ln for ln in (run.stdout + run.stderr).splitlines() if ln.strip()]
    assert len(lines) == 1 and "damaged" in lines[0] and "Traceback" not in run.stderr
    assert path.read_bytes().startswith(b"this is a log file")  # status changes nothing


def test_damage_found_while_running_stops_the_uplink_from_feeding_the_watchdog(tmp_path, platform):
    path = tmp_path / "outbox.sqlite"
    box = Outbox(path)
    up = _uplink(box, platform)
    up.start()
    try:
        assert _wait(lambda: up.heartbeat() > time.monotonic() - 1)
        box._mark_damaged("database disk image is malformed")  # as check() or a read finds it
        assert _wait(lambda: up.heartbeat() == float("-inf"), 5)
    finally:
        up.stop()
        box.close()


def test_check_finds_a_page_damaged_under_a_running_outbox(tmp_path):
    path = tmp_path / "outbox.sqlite"
    box = Outbox(path)
    book = _book()
    for d in _revisions(book, 200, time.time()):
        box.enqueue_incident(d)
    box._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert box.check() is None
    with open(path, "r+b") as f:  # a failing card garbles a page under the open file
        f.seek(4096 * 2)
        f.write(os.urandom(4096))
    box._db.execute("PRAGMA cache_size=0")
    problem = box.check()
    box.close()
    assert problem and box.damaged


# ---------------------------------------------------------------------------- the agent

def _config_text(tmp: Path, base_url: str, state_dir: Path, **extra) -> str:
    (tmp / "token").write_text("t0k\n")
    text = (ROOT / "config" / "default.yaml").read_text()
    changes = {
        "device.id": "box-1",
        "sensors": [],
        "voice.player": "sim",
        "voice.quiet_hours": None,
        "schedule.opening_hours": [],
        "actuators[0].min_off_s": 0,
        "uplink.http.base_url": base_url,
        "uplink.http.token_file": "token",
        "uplink.http.token_credential": None,
        "uplink.backoff.initial_s": 0.05,
        "uplink.backoff.max_s": 0.2,
        "storage.state_dir": str(state_dir),
        "storage.cache_dir": str(tmp / "cache"),
        **extra,
    }
    for key, value in changes.items():
        text = edited_text(text, key, value)
    return text


def _agent(tmp: Path, platform: Platform, state_dir: Path, events=None, **extra) -> Agent:
    cfg, _ = validate_text(_config_text(tmp, platform.base_url, state_dir, **extra), "config.yaml", tmp)
    agent = Agent(cfg, tmp, allow_missing_token=True, detector=NoDetector(),
                  listener=events.append if events is not None else None)
    agent.start()
    return agent


def _alarm(action, type_, i, **m):
    return AlarmEvent(action, type_, {"bin_id": f"bin-{i}", "sensor_id": f"s-{i}"}, m, 0.0)


def _settle(agent: Agent, pred, timeout=20.0) -> bool:
    return _wait(pred, timeout, tick=agent.tick)


@pytest.mark.parametrize("fault", ["enospc", "read_only"])
def test_agent_under_a_failing_disk_loses_nothing_and_says_why(tmp_path, tmpfs, card, platform, fault):
    if fault == "enospc":
        fs = tmpfs(3072)
        where = fs.path
    else:
        c = card()
        where = c.path
    agent = _agent(tmp_path, platform, where / "state")
    agent.outbox.reopen_s = 0.0
    try:
        agent._put(("alarm", _alarm("open", "bin_full", 99, fill_pct=95.0)))  # stored before the fault
        assert _settle(agent, lambda: platform.docs("bin_full") and agent.outbox.counts()["pending"] == 0)
        if fault == "enospc":
            filler = fs.fill()
        else:
            c.fail()
        expected = {"bin-99": "resolved"}
        agent._put(("alarm", _alarm("resolve", "bin_full", 99, fill_pct=3.0)))
        for i in range(25):  # alarms and bag incidents raised meanwhile
            agent._put(("alarm", _alarm("open", "bin_full", i, fill_pct=95.0)))
            if i % 2:
                agent._put(("alarm", _alarm("resolve", "bin_full", i, fill_pct=4.0)))
            expected[f"bin-{i}"] = "resolved" if i % 2 else "open"
        agent._put(("bag", BagEvent("incident_open", 60.0, "floor", 1, 60.0, snapshot_jpeg=_jpeg(1))))
        assert _settle(agent, lambda: agent.outbox.storage_error is not None and agent.outbox.held() > 0)
        # storage_fault opened and already sent from memory, with the reason
        assert _settle(agent, lambda: any(d["state"] == "open" for d in platform.docs("storage_fault")))
        fault_doc = platform.docs("storage_fault")[0]
        assert fault_doc["severity"] == "critical" and fault_doc["measurements"]["reason"]
        health = agent.health()["storage"]
        assert health["ok"] is False and health["held_revisions"] > 0 and health["error"]
        # telemetry says why (sent from memory too)
        assert _settle(agent, lambda: any(t["health"].get("storage", {}).get("ok") is False for t in platform.telemetry))
        if fault == "enospc":
            filler.unlink()
        else:
            c.repair()
        assert _settle(agent, lambda: agent.outbox.held() == 0 and agent.outbox.storage_error is None)
        assert _settle(agent, lambda: any(d["state"] == "resolved" for d in platform.docs("storage_fault")))
        assert _settle(agent, lambda: agent.outbox.counts()["pending"] == 0)
        got = {d["subject"]["bin_id"]: d["state"] for d in platform.docs("bin_full")}
        assert got == expected
        bag = platform.docs("bag_outside_bin")
        assert len(bag) == 1 and bag[0]["state"] == "open"
        assert bag[0]["snapshot"] is None, "a picture the disk refused: the incident went without it"
        stored = agent.outbox.latest_revisions()
        assert stored == {i: d["rev"] for i, d in platform.latest.items()}, "the disk caught up with the book"
        platform.check_no_gap_no_duplicate()
    finally:
        agent.stop()
    # a restart: the stored state is consistent and continues; no storage_fault is left open
    agent = _agent(tmp_path, platform, where / "state")
    try:
        assert [d["id"] for d in agent.outbox.open_incidents() if d["type"] == "storage_fault"] == []
        agent._put(("alarm", _alarm("resolve", "bin_full", 0, fill_pct=2.0)))
        assert _settle(agent, lambda: platform.docs("bin_full") and all(
            d["state"] == "resolved" for d in platform.docs("bin_full") if d["subject"]["bin_id"] == "bin-0"))
        platform.check_no_gap_no_duplicate()
    finally:
        agent.stop()


def test_a_restart_on_a_disk_that_is_still_full_runs_and_says_so(tmp_path, tmpfs, platform):
    fs = tmpfs(3072)
    agent = _agent(tmp_path, platform, fs.path / "state")
    agent._put(("alarm", _alarm("open", "bin_full", 1, fill_pct=95.0)))
    assert _settle(agent, lambda: platform.docs("bin_full") and agent.outbox.counts()["pending"] == 0)
    agent.stop()
    filler = fs.fill()
    agent = _agent(tmp_path, platform, fs.path / "state")
    try:
        agent._put(("alarm", _alarm("resolve", "bin_full", 1, fill_pct=5.0)))
        assert _settle(agent, lambda: platform.docs("bin_full")[0]["state"] == "resolved")
        assert _settle(agent, lambda: any(d["state"] == "open" for d in platform.docs("storage_fault")))
        filler.unlink()
        assert _settle(agent, lambda: any(d["state"] == "resolved" for d in platform.docs("storage_fault")))
        assert _settle(agent, lambda: agent.outbox.held() == 0 and agent.outbox.counts()["pending"] == 0)
        assert agent.outbox.open_incidents() == []
        platform.check_no_gap_no_duplicate()
    finally:
        agent.stop()


def test_agent_starting_on_a_damaged_outbox_tells_the_platform(tmp_path, platform):
    state = tmp_path / "state"
    state.mkdir()
    _filled_outbox(state / "outbox.sqlite", 4)
    _damage(state / "outbox.sqlite", "zeroed_page")
    agent = _agent(tmp_path, platform, state)
    try:
        assert _settle(agent, lambda: [d["state"] for d in platform.docs("storage_fault")] == ["resolved"])
        doc = platform.docs("storage_fault")[0]
        revs = sorted(a["rev"] for a in platform.arrivals if a["id"] == doc["id"])
        assert revs[:2] == [1, 2]
        first = next(a for a in platform.arrivals if a["id"] == doc["id"] and a["rev"] == 1)
        assert "moved aside" in first["measurements"]["reason"]
        assert list(state.glob("outbox.sqlite.damaged-*"))
    finally:
        agent.stop()


def test_damage_found_while_running_is_replaced_and_the_open_incidents_kept(tmp_path, platform):
    state = tmp_path / "state"
    agent = _agent(tmp_path, platform, state)
    try:
        agent._put(("alarm", _alarm("open", "bin_full", 1, fill_pct=95.0)))
        assert _settle(agent, lambda: platform.docs("bin_full") and agent.outbox.counts()["pending"] == 0)
        opened = platform.docs("bin_full")[0]
        agent.outbox._mark_damaged("database disk image is malformed")  # what check() or a read finds
        assert _settle(agent, lambda: [d["state"] for d in platform.docs("storage_fault")] == ["resolved"])
        assert list(state.glob("outbox.sqlite.damaged-*"))
        assert [d["id"] for d in agent.outbox.open_incidents()] == [opened["id"]], "a restart still knows it"
        agent._put(("alarm", _alarm("resolve", "bin_full", 1, fill_pct=3.0)))
        assert _settle(agent, lambda: platform.docs("bin_full")[0]["state"] == "resolved")
        assert agent.uplink.heartbeat() > float("-inf")
        platform.check_no_gap_no_duplicate()
    finally:
        agent.stop()


def test_restart_after_the_conditions_cleared(tmp_path, platform):
    state = tmp_path / "state"
    events: list = []  # no sensor drivers: the test is the sensor, its readings and alarms come from here
    agent = _agent(tmp_path, platform, state, events)
    subj_bin = {"bin_id": "bin-1", "sensor_id": "bin-1-level"}
    subj_odor = {"bin_id": None, "sensor_id": "odor-1"}
    agent._put(("alarm", AlarmEvent("open", "bin_full", subj_bin, {"fill_pct": 96.0}, 0)))
    agent._put(("alarm", AlarmEvent("open", "odor_high", subj_odor, {"nh3_ppm": 20.0}, 0)))
    agent._put(("alarm", AlarmEvent("open", "sensor_fault", {"bin_id": None, "sensor_id": "odor-1"},
                                    {"reason": "no valid reading for 30 s"}, 0)))
    assert _settle(agent, lambda: len(platform.docs()) == 3 and agent.outbox.counts()["pending"] == 0)
    agent.stop()
    # while it was down: the bin was emptied, the air cleared, the sensor came back
    events.clear()
    agent = _agent(tmp_path, platform, state, events)
    try:
        assert agent.router.awaiting_readings()
        for _ in range(3):
            agent._put(("idle", None))
        time.sleep(0.6)
        assert not [e for e in events if e["what"] == "relay"], "no relay acts on a restored incident"
        agent._on_reading(Reading("bin-1-level", "fill", "fill_pct", 900.0, 4.0, "%", 1.0, "ok"))
        agent._on_reading(Reading("odor-1", "odor", "nh3_ppm", 1.0, 1.0, "ppm", 1.0, "ok"))
        assert _settle(agent, lambda: all(d["state"] == "resolved" for d in platform.docs()) and len(platform.docs()) == 3)
        assert not [e for e in events if e["what"] == "relay" and e["on"]], "the fan stayed off in clean air"
        platform.check_no_gap_no_duplicate()
    finally:
        agent.stop()


# ---------------------------------------------------------------------------- start and modes

def _run_gedge(tmp_path: Path, state_dir: Path) -> subprocess.CompletedProcess:
    text = _config_text(tmp_path, "http://127.0.0.1:9/api", state_dir, **{"uplink.http.enabled": False})
    (tmp_path / "config.yaml").write_text(text)
    return subprocess.run([sys.executable, "-m", "edge", "run", "--simulation", "--duration", "1", "--config",
                           str(tmp_path / "config.yaml")], capture_output=True, text=True, timeout=120, cwd=str(ROOT))


def test_a_state_dir_that_cannot_be_made_is_one_line_and_exit_1(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    run = _run_gedge(tmp_path, blocker / "state")
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert [ln for ln in run.stderr.splitlines() if "gedge run:" in ln] == [
        f"gedge run: cannot start: state directory {blocker / 'state'} is not usable: Not a directory"]


@pytest.mark.slow
def test_a_read_only_state_dir_at_start_is_one_line_and_exit_1(tmp_path, tmpfs):
    fs = tmpfs(1024)
    (fs.path / "state").mkdir()
    fs.remount("ro")
    run = _run_gedge(tmp_path, fs.path / "state")
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr and "Read-only file system" in run.stderr
    assert len([ln for ln in run.stderr.splitlines() if "gedge run:" in ln]) == 1


def test_state_dir_outbox_and_pictures_are_not_world_readable(tmp_path, platform):
    old = os.umask(0o022)
    (tmp_path / "state").mkdir(mode=0o755)  # made by hand before: the agent tightens it
    try:
        agent = _agent(tmp_path, platform, tmp_path / "state")
        try:
            agent._put(("bag", BagEvent("incident_open", 60.0, "floor", 1, 60.0, snapshot_jpeg=_jpeg(3))))
            assert _settle(agent, lambda: platform.docs("bag_outside_bin"))
        finally:
            agent.stop()
    finally:
        os.umask(old)
    state = tmp_path / "state"
    assert stat.S_IMODE(state.stat().st_mode) == 0o750
    assert stat.S_IMODE((state / "outbox.sqlite").stat().st_mode) == 0o640
    pictures = list((state / "snapshots").glob("*.jpg"))
    assert pictures and all(stat.S_IMODE(p.stat().st_mode) == 0o640 for p in pictures)


def test_the_unit_sets_a_umask():
    unit = (ROOT / "systemd" / "garbage-edge.service").read_text()
    assert "UMask=0027" in unit
