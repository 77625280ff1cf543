"""schemathesis against the server's own OpenAPI description, over real HTTP: no 5xx, and every
document the server accepts passes an independent check of the contract (written here from
edge.contract, not from the server's models) and reads back and lists cleanly.

Seeded and bounded (derandomized, a fixed number of examples per operation) so CI stays short."""
from __future__ import annotations

import json
import math
import re
from types import SimpleNamespace

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from edge.cli.receiver_cmd import incident_line
from edge.contract import (DAILY_SCHEMA, INCIDENT_SCHEMA, INCIDENT_TYPES, ONE_SHOT_TYPES, SEEN_BY, SEVERITIES, STATES,
                           TELEMETRY_SCHEMA, WASTE_TYPES)
from edge.platform.app import create_app
from edge.platform.server import ReceiverServer
from edge.platform.storage import open_store
from edge.platform.tokens import TokenBook, add_token

DEVICE = "dev-1"
EXAMPLES = 80  # per operation
ACCEPTED: dict[str, int] = {}
STATUSES: dict[tuple, int] = {}
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    token = add_token(tmp / "tokens", DEVICE)
    store = open_store(tmp / "r.sqlite")
    srv = ReceiverServer("127.0.0.1", 0, store, tokens=TokenBook(tmp / "tokens"))
    srv.start_background()
    yield f"http://127.0.0.1:{srv.port}", token, srv
    srv.shutdown()
    srv.server_close()
    store.close()


# the description the server publishes at /v1/openapi.json (the app needs no running server for it)
schema = schemathesis.openapi.from_dict(create_app(SimpleNamespace()).openapi())


def _strings_and_numbers(obj, path="$"):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _strings_and_numbers(k, path + ".key")
            yield from _strings_and_numbers(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _strings_and_numbers(v, f"{path}[{i}]")
    else:
        yield path, obj


def contract_problems(kind: str, doc) -> list[str]:
    """What an accepted document must never be, by platform-api.md."""
    p = []
    if not isinstance(doc, dict):
        return ["not an object"]
    for path, v in _strings_and_numbers(doc):
        if isinstance(v, str) and (CONTROL.search(v) or len(v) > 200):
            p.append(f"{path}: control character, surrogate or overlong text")
        if isinstance(v, float) and not math.isfinite(v):
            p.append(f"{path}: not finite")
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 2**63:
            p.append(f"{path}: beyond 64 bits")
    if doc.get("device_id") != DEVICE:
        p.append("another device's document")
    if kind == "incident":
        if doc.get("schema") != INCIDENT_SCHEMA:
            p.append("schema")
        if doc.get("type") not in INCIDENT_TYPES or doc.get("state") not in STATES or doc.get("severity") not in SEVERITIES:
            p.append("type/state/severity")
        rev = doc.get("rev")
        if not (type(rev) is int and rev >= 1):
            p.append("rev")
        if not (isinstance(doc.get("id"), str) and 0 < len(doc["id"]) <= 128):
            p.append("id")
        for key in ("site", "subject", "measurements"):
            if not isinstance(doc.get(key), dict):
                p.append(f"{key} not an object")
        if doc.get("type") in ONE_SHOT_TYPES and doc.get("state") != "resolved":
            p.append("one-shot event open")
        seen = (doc.get("measurements") or {}).get("seen_by") if isinstance(doc.get("measurements"), dict) else None
        if seen is not None and seen not in SEEN_BY:
            p.append("seen_by")
    elif kind == "telemetry":
        if doc.get("schema") != TELEMETRY_SCHEMA or not isinstance(doc.get("readings"), dict):
            p.append("telemetry shape")
    elif kind == "daily":
        if doc.get("schema") != DAILY_SCHEMA or not re.fullmatch(r"\d{4}-\d\d-\d\d", str(doc.get("date"))):
            p.append("daily shape")
        bins = doc.get("bins")
        if not isinstance(bins, dict) or any(not isinstance(b, dict) or b.get("waste_type") not in WASTE_TYPES
                                             for b in bins.values()):
            p.append("bins")
    return p


@schema.parametrize()
@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_5xx_and_nothing_accepted_that_breaks_the_contract(case, live):
    base, token, srv = live
    if isinstance(case.body, dict) and "device_id" in case.body:
        case.body["device_id"] = DEVICE  # otherwise nearly every generated document is another device's (403)
    response = case.call(base_url=base, headers={"Authorization": f"Bearer {token}", "X-Device-Id": DEVICE})
    assert response.status_code < 500, response.text
    STATUSES[(case.method, case.path, response.status_code)] = STATUSES.get((case.method, case.path, response.status_code), 0) + 1
    if response.status_code >= 300 or case.method != "POST":
        return
    kind = case.path.rsplit("/", 1)[-1].rstrip("s")
    ACCEPTED[kind] = ACCEPTED.get(kind, 0) + 1
    assert contract_problems(kind, case.body) == [], (case.body, contract_problems(kind, case.body))
    if kind == "incident":
        held = {r["doc"]["id"]: r for r in srv.store.incidents()}[case.body["id"]]
        assert not CONTROL.search(incident_line(held))
        json.dumps(held["doc"], ensure_ascii=True)


def test_the_fuzzer_got_documents_accepted():
    """Valid documents were generated too, so the contract check above was exercised."""
    assert all(ACCEPTED.get(k, 0) >= 1 for k in ("incident", "telemetry", "daily")), (ACCEPTED, STATUSES)
