"""`gedge receiver` as an attacker on loopback meets it: huge or lying bodies without a token,
hundreds of slow and idle connections. The server's memory stays flat and a well-behaved
client still gets through (its p99 is printed)."""
from __future__ import annotations

import json
import socket
import statistics
import threading
import time

import pytest
import requests

from edge.platform.tokens import add_token
from receiver_support import incident, rss_kb
from uplink_support import free_port, start_receiver, stop

MB = 1024 * 1024


@pytest.fixture
def receiver(tmp_path):
    tokens = tmp_path / "tokens"
    token = add_token(tokens, "dev-1")
    port = free_port()
    proc = start_receiver(port, tmp_path / "r.sqlite",
                          extra=["--tokens", str(tokens), "--header-timeout", "3", "--body-timeout", "5"])
    yield port, token, proc
    stop(proc)


def _exchange(port: int, head: bytes, body_bytes: int, chunked: bool = False) -> bytes:
    """Send head, then up to body_bytes of body while the server may already have answered;
    return what the server sent back (its answer, if any)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    got = bytearray()

    def read():
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    return
                got.extend(data)
        except OSError:
            return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    chunk = b"A" * (1 << 16)
    try:
        s.sendall(head)
        sent = 0
        while sent < body_bytes:
            part = b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk
            s.sendall(part)
            sent += len(chunk)
    except OSError:
        pass  # the server closed the connection: what it said is in `got`
    reader.join(10)
    s.close()
    return bytes(got)


def _status(answer: bytes) -> int | None:
    line = answer.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) >= 2 and line[1].isdigit() else None


def test_lying_and_huge_bodies_are_refused_before_they_are_read(receiver):
    port, token, proc = receiver
    url = f"http://127.0.0.1:{port}/api/v1/incidents"
    ok = {"Authorization": f"Bearer {token}", "X-Device-Id": "dev-1", "Content-Type": "application/json"}
    for _ in range(20):  # warm up: the baseline includes a served request's allocations
        requests.post(url, data=json.dumps(incident()), headers=ok, timeout=10)
    before = rss_kb(proc.pid)
    fifty = 50 * MB
    post = b"POST /api/v1/incidents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    auth = f"Authorization: Bearer {token}\r\nX-Device-Id: dev-1\r\n".encode()
    cases = [
        ("Content-Length: -1", post + b"Content-Length: -1\r\n\r\n", 20 * MB, False, 400),
        ("50 MB, no token", post + f"Content-Length: {fifty}\r\n\r\n".encode(), fifty, False, 401),
        ("50 MB chunked, no token", post + b"Transfer-Encoding: chunked\r\n\r\n", fifty, True, 401),
        ("50 MB, with token", post + auth + f"Content-Length: {fifty}\r\n\r\n".encode(), fifty, False, 413),
        ("50 MB chunked, with token", post + auth + b"Transfer-Encoding: chunked\r\n\r\n", fifty, True, 413),
        ("huge header", post + b"X-Junk: " + b"j" * (1 * MB) + b"\r\n\r\n", 0, False, 400),
    ]
    answers = {}
    for name, head, n, chunked, want in cases:
        t0 = time.monotonic()
        answer = _exchange(port, head, n, chunked)
        answers[name] = (_status(answer), want, round(time.monotonic() - t0, 2))
    after = rss_kb(proc.pid)
    print(f"\nserver RSS {before / 1024:.1f} MB before, {after / 1024:.1f} MB after 5 x 20-50 MB bodies; {answers}")
    assert all(got == want for got, want, _ in answers.values()), answers
    assert after - before < 15 * 1024, f"RSS grew {(after - before) / 1024:.1f} MB"
    assert requests.post(url, data=json.dumps(incident()), headers=ok, timeout=10).status_code == 201


def test_slow_and_idle_connections_do_not_lock_out_a_well_behaved_client(receiver):
    port, token, proc = receiver
    idle, slow = [], []
    stop_trickle = threading.Event()
    try:
        for _ in range(1100):
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        for _ in range(600):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(b"POST /api/v1/incidents HTTP/1.1\r\nHost: x\r\n")
            slow.append(s)

        def trickle():  # one header byte per connection every 0.5 s: slowloris
            while not stop_trickle.wait(0.5):
                for s in slow:
                    try:
                        s.send(b"X")
                    except OSError:
                        pass

        threading.Thread(target=trickle, daemon=True).start()
        url = f"http://127.0.0.1:{port}/api/v1/incidents"
        headers = {"Authorization": f"Bearer {token}", "X-Device-Id": "dev-1", "Content-Type": "application/json"}
        latencies, statuses = [], []
        for _ in range(100):  # a fresh connection each time, like an agent after an outage
            t0 = time.monotonic()
            statuses.append(requests.post(url, data=json.dumps(incident()), headers=headers, timeout=10).status_code)
            latencies.append(time.monotonic() - t0)
        p50 = statistics.median(latencies)
        p99 = statistics.quantiles(latencies, n=100)[98]
        print(f"\nwell-behaved client beside 1,100 idle + 600 slow connections: p50 {p50 * 1000:.0f} ms, "
              f"p99 {p99 * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms")
        assert statuses == [201] * 100
        # the server hangs up on them after the header timeout (3 s), trickle or not
        deadline = time.monotonic() + 15
        for s in idle[:50] + slow[:50]:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                while s.recv(4096):
                    pass
            except ConnectionResetError:
                pass
            except socket.timeout:
                pytest.fail("a connection with no complete request head was still open after 15 s")
    finally:
        stop_trickle.set()
        for s in idle + slow:
            s.close()
