"""The outbox: durable, ordered, idempotent by (id, rev), dead letters, bounded telemetry, CLI."""
import json
import subprocess
import sys

from edge.incidents import IncidentBook, Subject
from edge.outbox import Outbox
from uplink_support import REPO

T0 = 1_800_000_000.0


def make_book(restore=()):
    return IncidentBook("dev-1", {"community": "c"}, "Asia/Shanghai", restore=restore)


def test_order_idempotency_and_restore(tmp_path):
    box = Outbox(tmp_path / "o.sqlite", dests=("http", "mqtt"))
    book = make_book()
    a1 = book.open("bin_full", Subject(bin_id="b1"), {"fill_pct": 91}, T0, snapshot={"sha256": "ab" * 32, "bytes": 5})
    b1 = book.open("odor_high", Subject(sensor_id="o1"), {"nh3_ppm": 11}, T0)
    a2 = book.update("bin_full", Subject(bin_id="b1"), T0 + 1, {"fill_pct": 97})
    a3 = book.resolve("bin_full", Subject(bin_id="b1"), T0 + 2)
    assert box.enqueue_incident(a1) and box.enqueue_incident(b1) and box.enqueue_incident(a2)
    assert not box.enqueue_incident(a1)  # same (id, rev): ignored
    assert box.enqueue_incident(a3)
    assert not box.enqueue_incident(a2)  # older than what is queued: ignored
    for dest in ("http", "mqtt"):
        got = [(i.kind, i.incident_id, i.rev) for i in box.pending(dest)]
        assert got == [("incident", a1["id"], 1), ("snapshot", a1["id"], 1), ("incident", b1["id"], 1),
                       ("incident", a1["id"], 2), ("incident", a1["id"], 3)]
    assert json.loads(box.pending("http")[0].body) == a1
    box.close()
    # reopened (a restart): the book comes back with only the odor incident open
    box = Outbox(tmp_path / "o.sqlite", dests=("http", "mqtt"))
    restored = make_book(box.open_incidents())
    assert [d["id"] for d in restored.open_incidents()] == [b1["id"]]
    assert box.latest_revisions() == {a1["id"]: 3, b1["id"]: 1}
    box.delivered(box.pending("http", limit=2))
    assert [i.rev for i in box.pending("http")] == [1, 2, 3] and box.counts()["pending"] == 8


def test_dead_letters_retry_and_purge(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    book = make_book()
    for i in range(3):
        box.enqueue_incident(book.open("bin_full", Subject(bin_id=f"b{i}"), {"fill_pct": 90 + i}, T0))
    first, second, _ = box.pending("http")
    box.failed(first, "HTTP 503")
    assert box.list_pending()[0]["attempts"] == 1 and box.list_pending()[0]["last_error"] == "HTTP 503"
    box.dead_letter(first, 401, '{"error": "bad token"}')
    box.dead_letter(second, 400, "bad document")
    dead = box.dead_letters()
    assert [(d["incident_id"], d["status"], d["attempts"]) for d in dead] == [(first.incident_id, 401, 2),
                                                                              (second.incident_id, 400, 1)]
    assert "bad token" in dead[0]["response"]
    assert box.counts() == {"pending": 1, "dead_letters": 2, "telemetry_backlog": 0}
    assert box.retry_dead([dead[0]["seq"]]) == 1
    assert [i.incident_id for i in box.pending("http")][-1] == first.incident_id  # back at the end of the queue
    assert box.purge_dead() == 1 and box.dead_letters() == []


def test_telemetry_backlog_is_bounded_newest_first(tmp_path):
    box = Outbox(tmp_path / "o.sqlite", telemetry_backlog=5)
    for n in range(20):
        box.enqueue_telemetry({"schema": "garbage-edge/telemetry@1", "n": n})
    assert box.counts()["telemetry_backlog"] == 5
    got = []
    while (item := box.next_telemetry("http")) is not None:
        got.append(json.loads(item.body)["n"])
        box.delivered([item])
    assert got == [19, 18, 17, 16, 15]


def test_listener_called_on_enqueue(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    calls = []
    box.add_listener(lambda: calls.append(1))
    box.add_listener(lambda: 1 / 0)  # a broken listener never breaks an enqueue
    box.enqueue_incident(make_book().open("bin_full", Subject(bin_id="b"), {"fill_pct": 95}, T0))
    box.enqueue_telemetry({"x": 1})
    assert len(calls) == 2


def test_enqueue_is_durable_settings(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    assert box._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert box._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def gedge(*args):
    return subprocess.run([sys.executable, "-m", "edge", *args], cwd=str(REPO), capture_output=True, text=True, timeout=60)


def test_gedge_outbox_commands(tmp_path):
    db = tmp_path / "o.sqlite"
    box = Outbox(db)
    book = make_book()
    box.enqueue_incident(book.open("bin_full", Subject(bin_id="b1"), {"fill_pct": 95}, T0))
    box.enqueue_incident(book.open("bin_full", Subject(bin_id="b2"), {"fill_pct": 95}, T0))
    box.dead_letter(box.pending("http")[0], 403, "forbidden by policy")
    box.close()
    r = gedge("outbox", "status", "--db", str(db), "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["pending"] == 1 and s["dead_letters"] == 1 and s["destinations"]["http"]["pending"] == 1
    r = gedge("outbox", "status", "--db", str(db))
    assert "pending 1" in r.stdout and "dead letters 1" in r.stdout
    r = gedge("outbox", "dead", "--db", str(db))
    assert "status 403" in r.stdout and "forbidden by policy" in r.stdout
    rows = [json.loads(x) for x in gedge("outbox", "list", "--db", str(db), "--json").stdout.splitlines()]
    assert len(rows) == 1 and rows[0]["kind"] == "incident"
    dead = json.loads(gedge("outbox", "dead", "--db", str(db), "--json").stdout)
    assert gedge("outbox", "retry", "--db", str(db), str(dead["seq"])).returncode == 0
    assert json.loads(gedge("outbox", "status", "--db", str(db), "--json").stdout)["pending"] == 2
    assert gedge("outbox", "purge", "--db", str(db), "999").returncode == 1  # no such dead letter
    r = gedge("outbox", "status", "--db", str(tmp_path / "nope.sqlite"))
    assert r.returncode == 1 and "no outbox" in r.stderr


def test_concurrent_enqueues_share_fsyncs_and_keep_order(tmp_path):
    import threading

    box = Outbox(tmp_path / "o.sqlite")
    commits = []
    real = box._commit_batch
    box._commit_batch = lambda batch: (commits.append(len(batch)), real(batch))
    books = [make_book() for _ in range(6)]

    def producer(k):
        for i in range(40):
            d = books[k].open("bin_full", Subject(bin_id=f"b{k}"), {"fill_pct": 90 + i % 2}, T0 + i) if i % 2 == 0 else \
                books[k].resolve("bin_full", Subject(bin_id=f"b{k}"), T0 + i)
            assert box.enqueue_incident(d)

    threads = [threading.Thread(target=producer, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    items = box.pending("http", limit=1000)
    assert len(items) == 240 and sum(commits) == 240
    assert len(commits) < 240  # several callers' revisions went to disk in one transaction
    by_id = {}
    for it in items:
        by_id.setdefault(it.incident_id, []).append(it.rev)
    assert all(revs == [1, 2] for revs in by_id.values())
    try:
        box.enqueue_incident({"rev": 1})
    except KeyError:
        pass
    else:
        raise AssertionError("a document without id must be refused")


def test_prune_history_forgets_only_old_resolved(tmp_path):
    clock = [T0]
    box = Outbox(tmp_path / "o.sqlite", clock=lambda: clock[0])
    book = make_book()
    old = book.open("bin_full", Subject(bin_id="b1"), {"fill_pct": 95}, T0)
    box.enqueue_incident(old)
    box.enqueue_incident(book.resolve("bin_full", Subject(bin_id="b1"), T0))
    box.enqueue_incident(book.open("odor_high", Subject(sensor_id="o"), {"nh3_ppm": 20}, T0))
    clock[0] = T0 + 40 * 86400
    assert box.prune_history() == 0  # still queued: kept
    box.delivered(box.pending("http"))
    assert box.prune_history() == 1
    assert len(box.latest_revisions()) == 1 and len(box.open_incidents()) == 1


def test_dead_telemetry_is_bounded_but_dead_incidents_are_kept(tmp_path):
    """A revoked token dead-letters every telemetry document: only the newest few are kept."""
    box = Outbox(tmp_path / "o.sqlite", telemetry_backlog=3)
    book = make_book()
    for i in range(5):
        box.enqueue_incident(book.open("bin_full", Subject(bin_id=f"b{i}"), {"fill_pct": 95}, T0))
    for item in box.pending("http"):
        box.dead_letter(item, 401, "bad token")
    for n in range(10):
        box.enqueue_telemetry({"schema": "garbage-edge/telemetry@1", "n": n})
        box.dead_letter(box.next_telemetry("http"), 401, "bad token")
    dead = box.dead_letters()
    assert sum(d["kind"] == "incident" for d in dead) == 5
    tele = [d for d in dead if d["kind"] == "telemetry"]
    assert len(tele) == 3 and box.counts()["dead_letters"] == 8
    assert box.stats()["destinations"]["http"]["dead_telemetry_dropped"] == 7
    assert box.retry_dead() == 8
    assert json.loads(box.next_telemetry("http").body)["n"] == 9  # the newest came back
