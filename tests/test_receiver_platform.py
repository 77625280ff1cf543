"""The platform server against the contract, on SQLite and on a real PostgreSQL server:
strict documents, one token per device, resolve pictures, daily idempotency, `list` on anything."""
from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys

import pytest
import requests

from edge.platform.server import ReceiverServer
from edge.platform.storage import open_store
from edge.platform.tokens import TokenBook, add_token, revoke_token
from receiver_support import PostgresCluster, daily, incident, telemetry
from uplink_support import REPO, free_port, jpeg, start_receiver, stop


@pytest.fixture(scope="module")
def pg_cluster():
    cluster = PostgresCluster()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = open_store(tmp_path / "r.sqlite")
    else:
        s = open_store(request.getfixturevalue("pg_cluster").new_database())
    yield s
    s.close()


@pytest.fixture
def platform(store, tmp_path):
    """A server with per-device tokens for dev-1 and dev-2; yields (base url, {device: token}, server)."""
    tokens_file = tmp_path / "tokens"
    toks = {d: add_token(tokens_file, d) for d in ("dev-1", "dev-2")}
    srv = ReceiverServer("127.0.0.1", 0, store, tokens=TokenBook(tokens_file))
    srv.start_background()
    yield f"http://127.0.0.1:{srv.port}/api/v1", toks, srv
    srv.shutdown()
    srv.server_close()


def send(base, toks, path, body, device="dev-1", as_device=None, content_type="application/json", method="POST"):
    data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    headers = {"Content-Type": content_type, "X-Device-Id": as_device or device,
               "Authorization": f"Bearer {toks[device]}"}
    return requests.request(method, base + path, data=data, headers=headers, timeout=10)


BAD_BODIES = {
    "subject is a number": json.dumps(incident(subject=7)).encode(),
    "site is a string": json.dumps(incident(site="nope")).encode(),
    "NaN": json.dumps(incident(measurements={"dwell_s": float("nan"), "count": 1})).encode(),
    "Infinity": json.dumps(incident(measurements={"dwell_s": float("inf"), "count": 1})).encode(),
    "a 200 kB id": json.dumps(incident(iid="x" * 200_000)).encode(),
    "rev 2**63": json.dumps(incident(rev=2**63)).encode(),
    "rev 0": json.dumps(incident(rev=0)).encode(),
    "rev true": json.dumps(incident(rev=True)).encode(),
    "rev as text": json.dumps(incident(rev="1")).encode(),
    "UTF-16": json.dumps(incident()).encode("utf-16"),
    "UTF-32": json.dumps(incident()).encode("utf-32"),
    "UTF-8 with BOM": b"\xef\xbb\xbf" + json.dumps(incident()).encode(),
    "deep nesting": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "deep list": b"[" * 50_000,
    "lone surrogate": json.dumps(incident(site={"community": "\ud800"})).replace("\\ud800", "\\udc00").encode(),
    "control character": json.dumps(incident(site={"community": "a\x1b[31mred"})).encode(),
    "old severity fault": json.dumps(incident(type_="sensor_fault", severity="fault")).encode(),
    "unknown type": json.dumps(incident(type_="alien")).encode(),
    "wrong schema": json.dumps(incident(schema="garbage-edge/incident@2")).encode(),
    "seen_by unknown": json.dumps(incident(measurements={"dwell_s": 1.0, "count": 1, "seen_by": "eye"})).encode(),
    "one-shot still open": json.dumps(incident(type_="bin_emptied", state="open")).encode(),
    "resolved without resolved_at": json.dumps(incident(state="resolved", resolved_at=None)).encode(),
    "bad time": json.dumps(incident(opened_at="2026-13-40T99:00:00+08:00")).encode(),
    "unknown field": json.dumps(incident(extra_field=1)).encode(),
    "bad snapshot hash": json.dumps(incident(snapshot={"sha256": "zz", "bytes": 10})).encode(),
    "a list": b"[1, 2]",
    "not JSON": b"{nope",
    "empty": b"",
}


def test_bad_documents_are_4xx_with_a_reason_and_not_stored(platform):
    base, toks, srv = platform
    answers = {name: send(base, toks, "/incidents", body) for name, body in BAD_BODIES.items()}
    wrong = {name: (r.status_code, r.text[:200]) for name, r in answers.items() if r.status_code != 400}
    assert not wrong
    assert all(r.json()["error"] for r in answers.values())  # the reason, for the box's dead-letter list
    assert srv.store.incidents() == []
    assert send(base, toks, "/incidents", incident()).status_code == 201  # and the server still answers


def test_contract_values_of_this_round_are_accepted(platform):
    base, toks, srv = platform
    docs = [incident(type_="storage_fault", severity="critical", measurements={"reason": "disk full"}),
            incident(type_="collection_overdue", measurements={"fill_pct": 97.0}),
            incident(measurements={"dwell_s": 75.0, "count": 1, "seen_by": "static"}),
            incident(type_="bin_emptied", state="resolved", severity="info",
                     measurements={"fill_pct_before": 93.0, "fill_pct_after": 4.0})]
    for d in docs:
        assert send(base, toks, "/incidents", d).status_code == 201
    assert send(base, toks, "/telemetry", telemetry()).status_code == 202
    assert {r["doc"]["type"] for r in srv.store.incidents()} == {"storage_fault", "collection_overdue",
                                                                 "bag_outside_bin", "bin_emptied"}


def test_one_token_per_device(platform, tmp_path):
    base, toks, srv = platform
    mine = incident(device="dev-1", snapshot={"sha256": "a" * 64, "bytes": 70})
    assert send(base, toks, "/incidents", mine).status_code == 201
    assert send(base, toks, f"/incidents/{mine['id']}/snapshot", jpeg(1), content_type="image/jpeg",
                method="PUT").status_code == 201
    # dev-2's token cannot speak as dev-1, in the header or in the document
    assert send(base, toks, "/incidents", incident(device="dev-1"), device="dev-2", as_device="dev-1").status_code == 403
    assert send(base, toks, "/incidents", incident(device="dev-1"), device="dev-2").status_code == 403
    # nor resolve dev-1's incident, nor replace its picture, under its own name
    takeover = {**mine, "device_id": "dev-2", "rev": 2, "state": "resolved", "resolved_at": mine["opened_at"]}
    assert send(base, toks, "/incidents", takeover, device="dev-2").status_code == 403
    assert send(base, toks, f"/incidents/{mine['id']}/snapshot", jpeg(666), device="dev-2",
                content_type="image/jpeg", method="PUT").status_code == 403
    assert send(base, toks, "/telemetry", telemetry("dev-1"), device="dev-2").status_code == 403
    assert send(base, toks, "/daily", daily("dev-1"), device="dev-2").status_code == 403
    held = srv.store.incidents()
    assert len(held) == 1 and held[0]["doc"] == mine and srv.store.snapshot(mine["id"]) == jpeg(1)
    # a wrong token is 401 before anything else; a revoked token stops working at once
    bad = requests.post(base + "/incidents", data=b"{}", timeout=5,
                        headers={"Authorization": "Bearer nope", "X-Device-Id": "dev-1", "Content-Type": "application/json"})
    assert bad.status_code == 401 and bad.headers["www-authenticate"] == "Bearer"
    assert revoke_token(srv.tokens.path, "dev-2")
    assert send(base, toks, "/incidents", incident(device="dev-2"), device="dev-2").status_code == 401
    assert send(base, toks, "/incidents", incident(device="dev-1")).status_code == 201


def test_opening_and_resolving_pictures_are_both_kept(platform):
    base, toks, srv = platform
    pic_open, pic_resolve = jpeg(1, 200), jpeg(2, 300)
    import hashlib

    d1 = incident(snapshot={"sha256": hashlib.sha256(pic_open).hexdigest(), "bytes": len(pic_open)})
    d2 = {**d1, "rev": 2, "state": "resolved", "resolved_at": d1["opened_at"],
          "snapshot": {"sha256": hashlib.sha256(pic_resolve).hexdigest(), "bytes": len(pic_resolve)}}
    put = lambda pic: send(base, toks, f"/incidents/{d1['id']}/snapshot", pic, content_type="image/jpeg", method="PUT")  # noqa: E731
    assert send(base, toks, "/incidents", d1).status_code == 201
    assert put(pic_open).json()["role"] == "open"
    assert send(base, toks, "/incidents", d2).status_code == 201
    assert put(pic_resolve).json()["role"] == "resolve"
    assert put(pic_open).json()["role"] == "open"  # a late retry of the first picture stays the opening one
    assert srv.store.snapshot(d1["id"], "open") == pic_open
    assert srv.store.snapshot(d1["id"], "resolve") == pic_resolve
    assert srv.store.incidents()[0]["pictures"] == ["open", "resolve"]


def test_daily_is_idempotent_by_device_and_date(platform):
    base, toks, srv = platform
    r = send(base, toks, "/daily", daily(added=100.0))
    assert r.status_code == 201 and r.json()["replaced"] is False
    r = send(base, toks, "/daily", daily(added=120.0))  # the day resent with fuller figures
    assert r.status_code == 200 and r.json()["replaced"] is True
    assert send(base, toks, "/daily", daily(date="2026-11-29")).status_code == 201
    assert send(base, toks, "/daily", daily(device="dev-2"), device="dev-2").status_code == 201
    assert send(base, toks, "/daily", {**daily(), "date": "2026-02-30"}).status_code == 400
    assert send(base, toks, "/daily", {**daily(), "bins": {"bin-1": {**daily()["bins"]["bin-1"], "waste_type": "glass"}}}).status_code == 400
    rows = srv.store.daily()
    assert len(rows) == 3
    day = [r["doc"] for r in rows if r["doc"]["device_id"] == "dev-1" and r["doc"]["date"] == "2026-11-28"]
    assert len(day) == 1 and day[0]["bins"]["bin-1"]["added_l"] == 120.0


def test_highest_revision_kept_and_duplicates_counted(platform):
    base, toks, srv = platform
    d1 = incident()
    d2 = {**d1, "rev": 2, "state": "resolved", "resolved_at": d1["opened_at"]}
    assert send(base, toks, "/incidents", d1).status_code == 201
    assert send(base, toks, "/incidents", d2).status_code == 201
    r = send(base, toks, "/incidents", d1)
    assert r.status_code == 409 and r.json()["rev"] == 2
    assert send(base, toks, "/incidents", {**d2, "reminders": 3}).status_code == 409
    assert srv.store.incidents()[0]["doc"] == d2
    assert srv.store.arrivals() == [{"id": d1["id"], "rev": 1, "count": 2, "conflicts": 0},
                                    {"id": d1["id"], "rev": 2, "count": 2, "conflicts": 1}]


def gedge(*args, stdin=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "edge", *args], cwd=str(REPO), capture_output=True, text=True,
                          input=stdin, timeout=timeout)


def test_token_add_prints_the_token_once_and_stores_its_hash(tmp_path):
    tokens = tmp_path / "tokens"
    r = gedge("receiver", "token", "add", "dev-9", "--tokens", str(tokens))
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    assert len(token) >= 40 and token not in tokens.read_text() and "dev-9 sha256:" in tokens.read_text()
    assert oct(tokens.stat().st_mode & 0o777) == "0o600"
    assert gedge("receiver", "token", "list", "--tokens", str(tokens)).stdout.split() == ["dev-9"]
    assert gedge("receiver", "token", "add", "bad id!", "--tokens", str(tokens)).returncode == 2
    port, db = free_port(), tmp_path / "r.sqlite"
    proc = start_receiver(port, db, extra=["--tokens", str(tokens)])
    try:
        url = f"http://127.0.0.1:{port}/api/v1/incidents"
        h = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        assert requests.post(url, data=json.dumps(incident("dev-9")), headers={**h, "X-Device-Id": "dev-9"}, timeout=5).status_code == 201
        assert requests.post(url, data=json.dumps(incident("dev-8")), headers={**h, "X-Device-Id": "dev-8"}, timeout=5).status_code == 403
    finally:
        stop(proc)
    assert gedge("receiver", "token", "revoke", "dev-9", "--tokens", str(tokens)).returncode == 0
    assert gedge("receiver", "token", "revoke", "dev-9", "--tokens", str(tokens)).returncode == 1


CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def test_list_never_crashes_on_a_stored_document_and_prints_no_control_characters(tmp_path):
    """What the first receiver stored without checking: `list` shows each, escaped."""
    db = tmp_path / "r.sqlite"
    open_store(db).close()
    bad_docs = [
        json.dumps({"id": "a\x1b[2J\x07", "rev": 1, "type": "bag_outside_bin", "state": "open", "device_id": "d",
                    "subject": 7, "site": "nope"}),
        json.dumps({"id": "x" * 1_000_000, "rev": float("nan"), "subject": {"zone": "\x1b]0;owned\x07"}}),
        json.dumps([1, 2, 3]),
        json.dumps("just a string"),
        '{"id": "\\ud800", "rev": 99999999999999999999999, "subject": {"k\\u009b": "v"}}',
        "not json at all {",
        "null",
    ]
    with sqlite3.connect(db) as c:
        for n, doc in enumerate(bad_docs):
            c.execute("INSERT INTO incidents (id, rev, device_id, type, state, doc, first_received, received) "
                      "VALUES (?, 1, 'd', 't', 's', ?, ?, ?)", (f"row{n}", doc, 1e9 + n, 1e9 + n))
        c.execute("INSERT INTO telemetry (device_id, doc, received) VALUES ('d', ?, 1)", ('{"readings": "\x1b[31m"}',))
    for extra in ([], ["--json"], ["--telemetry"], ["--daily"]):
        r = gedge("receiver", "list", "--db", str(db), *extra)
        assert r.returncode == 0, (extra, r.stderr[-2000:])
        assert not CONTROL.search(r.stdout), (extra, CONTROL.search(r.stdout))
    r = gedge("receiver", "list", "--db", str(db))
    assert f"{len(bad_docs)} incident(s)" in r.stdout and "\\x1b" in r.stdout


def test_a_batch_answers_each_document_and_writes_nothing_for_a_foreign_one(store):
    mine = incident(device="dev-1")
    assert store.put_incident(mine) == (True, 1)
    newer = {**mine, "rev": 2, "state": "resolved", "resolved_at": mine["opened_at"]}
    other = incident(device="dev-2")
    results = store.put_incidents([newer, {**mine, "device_id": "dev-2", "rev": 9}, mine, other, newer])
    assert results[0] == (True, 2) and results[2] == (False, 2) and results[3] == (True, 1)
    assert results[4] == (False, 2)  # the same revision again, in the same transaction
    assert type(results[1]).__name__ == "ForeignIncident" and results[1].owner == "dev-1"
    assert store.arrivals() == sorted([{"id": mine["id"], "rev": 1, "count": 2, "conflicts": 0},
                                       {"id": mine["id"], "rev": 2, "count": 2, "conflicts": 0},
                                       {"id": other["id"], "rev": 1, "count": 1, "conflicts": 0}],
                                      key=lambda a: (a["id"], a["rev"]))  # nothing for rev 9
    held = {r["doc"]["id"]: r["doc"] for r in store.incidents()}
    assert held == {mine["id"]: newer, other["id"]: other}


def test_a_batch_of_distinct_incidents_answers_each_as_it_would_alone(store):
    """Distinct ids: on PostgreSQL one multi-row statement, which must answer as a statement per document."""
    held, stale_held, theirs = (incident(device=d) for d in ("dev-1", "dev-1", "dev-2"))
    stale_held = {**stale_held, "rev": 3}
    for doc in (held, stale_held, theirs):
        store.put_incident(doc)
    newer = {**held, "rev": 2, "state": "resolved", "resolved_at": held["opened_at"]}
    fresh = incident(device="dev-1")
    batch = [fresh, {**theirs, "device_id": "dev-1", "rev": 5}, newer, {**stale_held, "rev": 2}]
    results = store.put_incidents(batch)
    assert results[0] == (True, 1) and results[2] == (True, 2) and results[3] == (False, 3)
    assert type(results[1]).__name__ == "ForeignIncident" and results[1].owner == "dev-2"
    rows = {r["doc"]["id"]: r["doc"] for r in store.incidents()}
    assert rows == {held["id"]: newer, stale_held["id"]: stale_held, theirs["id"]: theirs, fresh["id"]: fresh}
    counts = {(a["id"], a["rev"]): a["count"] for a in store.arrivals()}
    assert counts == {(held["id"], 1): 1, (held["id"], 2): 1, (stale_held["id"], 3): 1, (stale_held["id"], 2): 1,
                      (theirs["id"], 1): 1, (fresh["id"], 1): 1}  # nothing for the foreign rev 5


def test_posts_arriving_together_share_one_transaction(store, monkeypatch):
    import asyncio

    from edge.platform.group_commit import GroupCommit

    calls = []
    name = "put_incidents_async" if hasattr(store, "put_incidents_async") else "put_incidents"
    real = getattr(store, name)

    def counted(*args):
        calls.append(len(args[-1]))
        return real(*args)

    monkeypatch.setattr(store, name, counted)
    commits = GroupCommit(lambda: store)
    docs = [incident(device="dev-1") for _ in range(6)]
    bad = incident(device="dev-1", rev=2**70)  # past validation, refused by the database itself

    async def main():
        return await asyncio.gather(*(commits.put_incident(d) for d in docs[:3]), commits.put_incident(bad),
                                    *(commits.put_incident(d) for d in docs[3:]), return_exceptions=True)

    results = asyncio.run(main())
    assert calls[0] == 7  # all seven in one transaction, which the bad one rolled back ...
    assert calls[1:] == [1] * 7  # ... so each was written again on its own
    assert results[:3] + results[4:] == [(True, 1)] * 6
    assert isinstance(results[3], Exception)
    assert {r["doc"]["id"] for r in store.incidents()} == {d["id"] for d in docs}


def test_the_examples_in_the_openapi_description_are_accepted(platform):
    base, toks, srv = platform
    spec = requests.get(base + "/openapi.json", timeout=10).json()
    for path, status in (("/incidents", 201), ("/telemetry", 202), ("/daily", 201)):
        example = spec["paths"]["/v1" + path]["post"]["requestBody"]["content"]["application/json"]["example"]
        r = send(base, toks, path, {**example, "device_id": "dev-1"})
        assert r.status_code == status, (path, r.text)
