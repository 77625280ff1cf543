"""Evidence snapshot store: content-addressed, durable, oldest pruned first under the quota."""
import os

import pytest

from edge.incidents import SnapshotStore
from uplink_support import jpeg


def test_put_get_and_quota_prunes_oldest(tmp_path):
    store = SnapshotStore(tmp_path / "snaps", quota_bytes=1000)
    metas = []
    for i in range(5):
        m, pruned = store.put_pruning(jpeg(i, 300))
        metas.append(m)
        os.utime(store.path(m["sha256"]), (1000 + i, 1000 + i))  # distinct ages regardless of clock resolution
    assert metas[0]["bytes"] == 306 and metas[0]["content_type"] == "image/jpeg"
    n, total = store.usage()
    assert total <= 1000 and n == 3
    assert store.get(metas[0]["sha256"]) is None and store.get(metas[1]["sha256"]) is None
    assert store.get(metas[4]["sha256"]) == jpeg(4, 300)
    assert pruned == [metas[1]["sha256"]]  # the last put pruned the then-oldest
    assert not list((tmp_path / "snaps").glob("*.tmp"))


def test_same_picture_stored_once_and_never_prunes_itself(tmp_path):
    store = SnapshotStore(tmp_path, quota_bytes=100)
    a = store.put(jpeg(1, 50))
    assert store.put(jpeg(1, 50)) == a and store.usage()[0] == 1
    big = store.put(jpeg(2, 500))  # bigger than the quota: kept (the newest evidence), older pruned
    assert store.has(big["sha256"]) and not store.has(a["sha256"])
    with pytest.raises(ValueError):
        store.put(b"GIF89a...")


def test_half_written_picture_from_a_crash_is_removed_at_start(tmp_path):
    folder = tmp_path / "snaps"
    kept = SnapshotStore(folder, quota_bytes=10_000).put(jpeg(1, 100))
    (folder / ("ab" * 32 + ".tmp")).write_bytes(b"\xff\xd8half a pictu")  # power cut mid-write
    store = SnapshotStore(folder, quota_bytes=10_000)  # the next start
    assert not list(folder.glob("*.tmp"))
    assert store.get(kept["sha256"]) == jpeg(1, 100)
