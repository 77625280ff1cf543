"""Crash safety: an agent enqueuing and uploading is SIGKILLed at random points many times while
the receiver goes up and down (also SIGKILLed). After a final run every incident ever enqueued
is at the receiver at its newest revision; duplicates only as the same (id, rev)."""
import random
import subprocess
import sys
import threading
import time
from collections import defaultdict

import pytest

from edge.outbox import Outbox
from edge.receiver import ReceiverStore
from uplink_support import REPO, free_port, start_receiver, stop

AGENT = REPO / "tests" / "uplink_crash_agent.py"


def run_agent(outbox, port, *args):
    return subprocess.Popen([sys.executable, str(AGENT), str(outbox), str(port), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


@pytest.mark.slow
def test_kill_9_many_times_loses_nothing(tmp_path):
    rng = random.Random(20261128)
    port = free_port()
    db = tmp_path / "recv.sqlite"
    token = tmp_path / "token"
    token.write_text("tok")
    outbox = tmp_path / "outbox.sqlite"
    printed: dict[str, int] = {}
    receiver = start_receiver(port, db, token)
    kills = 0
    t_end = time.monotonic() + 18
    try:
        while time.monotonic() < t_end:
            agent = run_agent(outbox, port, "run", str(rng.randrange(10**9)))
            lines = []
            reader = threading.Thread(target=lambda: lines.extend(agent.stdout), daemon=True)
            reader.start()
            time.sleep(rng.uniform(0.5, 1.4))  # startup ~0.3-0.5 s, then random work
            if rng.random() < 0.35:  # the platform drops or comes back while the agent works
                if receiver is None:
                    receiver = start_receiver(port, db, token)
                else:
                    stop(receiver, kill=True)
                    receiver = None
                time.sleep(rng.uniform(0.0, 0.3))
            agent.kill()  # SIGKILL at a random point: mid-enqueue, mid-request, mid-commit
            agent.wait()
            reader.join(2)
            kills += 1
            for ln in lines:
                if ln.startswith("ENQ "):
                    _, iid, rev = ln.split()
                    printed[iid] = max(printed.get(iid, 0), int(rev))
        if receiver is None:
            receiver = start_receiver(port, db, token)
        final = run_agent(outbox, port, "drain")
        out, _ = final.communicate(timeout=60)
        assert "DRAINED" in out.split(), out
    finally:
        stop(receiver)

    assert kills >= 8 and len(printed) >= 20
    box = Outbox(outbox)
    enqueued = box.latest_revisions()
    assert box.counts()["pending"] == 0 and box.dead_letters() == []
    for iid, rev in printed.items():  # what an enqueue confirmed is on disk
        assert enqueued.get(iid, 0) >= rev
    store = ReceiverStore(db)
    held = {r["doc"]["id"]: r["doc"] for r in store.incidents()}
    missing = {iid: rev for iid, rev in enqueued.items() if held.get(iid, {}).get("rev") != rev}
    assert missing == {}, f"{len(missing)} incident(s) not at their newest revision"
    assert set(held) == set(enqueued)
    arrivals = store.arrivals()
    assert all(a["conflicts"] == 0 for a in arrivals)  # a duplicate is always the same (id, rev) document
    # restarts never opened a second incident for a subject that already had one open:
    # per subject, each incident is resolved before the next one opens
    per_subject = defaultdict(list)
    for doc in held.values():
        if doc["type"] != "bin_emptied":
            per_subject[(doc["type"], tuple(doc["subject"].values()))].append(doc)
    for subject, docs in per_subject.items():
        docs.sort(key=lambda d: d["opened_at"])
        for before, after in zip(docs, docs[1:]):
            assert before["state"] == "resolved" and after["opened_at"] >= before["resolved_at"], subject
    dups = sum(a["count"] - 1 for a in arrivals)
    print(f"{kills} kills, {len(enqueued)} incidents, {sum(enqueued.values())} revisions, {dups} duplicate arrivals")
    store.close()
