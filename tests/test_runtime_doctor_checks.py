"""Single doctor checks, without the rest of the room: the clock, the platform's TLS CA file
(relative to the config, like the uplink), and a damaged outbox (reported, never changed)."""
from __future__ import annotations

import datetime as dt
import shutil
import subprocess

import pytest

from edge.config import Config
from edge.runtime.doctor import FAIL, OK, _check_http, check_clock, check_outbox
from platform_stub import Platform


def test_a_clock_that_was_never_set_fails():
    c = check_clock(dt.datetime(1970, 1, 1, 0, 5, tzinfo=dt.timezone.utc))
    assert c.status == FAIL and "not set" in c.detail
    assert check_clock(dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.timezone.utc)).status != FAIL


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
def test_the_platform_check_uses_the_ca_file_beside_the_config(tmp_path, monkeypatch):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    platform = Platform(tls=(cert, key))
    monkeypatch.chdir("/")  # a relative CA path must not depend on where doctor runs from
    try:
        cfg = Config()
        cfg.device.id = "dev-1"
        cfg.uplink.http.base_url = platform.base_url
        cfg.uplink.http.token_file = "token"
        cfg.uplink.http.ca_file = "cert.pem"  # relative: beside config.yaml
        (tmp_path / "token").write_text("t0k\n")
        checks = {c.name: c for c in _check_http(cfg, tmp_path)}
        assert checks["platform"].status == OK, checks["platform"]
        assert checks["clock vs platform"].status == OK, checks
    finally:
        platform.close()


def test_a_damaged_outbox_is_reported_and_left_as_it_is(tmp_path):
    cfg = Config()
    cfg.storage.state_dir = str(tmp_path)
    (tmp_path / "outbox.sqlite").write_bytes(b"not a database at all\n" * 100)
    c = check_outbox(cfg)
    assert c.status == FAIL and "damaged" in c.detail
    assert (tmp_path / "outbox.sqlite").read_bytes().startswith(b"not a database")
    assert not list(tmp_path.glob("*.damaged-*"))
