"""A tiny agent for the crash test: makes incident revisions, enqueues them, uploads them.

    python uplink_crash_agent.py OUTBOX PORT run SEED    # forever (until SIGKILL)
    python uplink_crash_agent.py OUTBOX PORT drain       # until the outbox is empty

Prints `ENQ <id> <rev>` after each enqueue returned (i.e. after the commit).
"""
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge.incidents import IncidentBook, Subject  # noqa: E402
from edge.outbox import Outbox  # noqa: E402
from edge.uplink import RetrySchedule, Uplink  # noqa: E402
from edge.uplink.http import HttpTransport  # noqa: E402

SUBJECTS = [("bin_full", Subject(bin_id=f"bin-{i}")) for i in range(3)] + \
           [("odor_high", Subject(sensor_id=f"odor-{i}")) for i in range(2)] + \
           [("bag_outside_bin", Subject(zone="floor"))]


def main() -> int:
    path, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    box = Outbox(path)
    book = IncidentBook("crash-dev", {"community": "c", "point_id": "P"}, "Asia/Shanghai", restore=box.open_incidents())
    http = HttpTransport(f"http://127.0.0.1:{port}/api", "crash-dev", "tok", connect_timeout_s=0.5, read_timeout_s=1.0)
    up = Uplink(box, [http], lambda: RetrySchedule(0.05, 0.3), batch=16)
    up.start()
    print("READY", flush=True)
    if mode == "drain":
        deadline = time.monotonic() + 30
        while box.counts()["pending"] and time.monotonic() < deadline:
            time.sleep(0.05)
        up.stop()
        print("DRAINED" if box.counts()["pending"] == 0 else "NOT DRAINED", flush=True)
        return 0
    rng = random.Random(int(sys.argv[4]))
    n = 0
    while True:
        n += 1
        type_, subj = rng.choice(SUBJECTS)
        now = time.time()
        if rng.random() < 0.05:
            doc = book.event("bin_emptied", Subject(bin_id=subj.bin_id or "bin-0"), {"fill_pct_before": 90.0, "fill_pct_after": 2.0}, now)
        elif book.get(type_, subj) is None:
            doc = book.open(type_, subj, {"v": n}, now)
        elif rng.random() < 0.3:
            doc = book.resolve(type_, subj, now)
        else:
            doc = book.update(type_, subj, now, {"v": n})
        if doc is not None:
            box.enqueue_incident(doc)
            print(f"ENQ {doc['id']} {doc['rev']}", flush=True)
        time.sleep(rng.random() * 0.01)


if __name__ == "__main__":
    sys.exit(main())
