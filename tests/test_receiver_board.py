"""The board in a real headless Chromium (Debian's `chromium`, driven by Playwright): a receiver
filled through its API, a login, and the page in Chinese and English with incidents and both
pictures, the day's fill and odor curves, the daily statistics and each box's health."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import time

import cv2
import numpy as np
import pytest
import requests

from edge.platform.board import UserBook, add_user
from edge.platform.server import ReceiverServer
from edge.platform.storage import open_store
from edge.platform.tokens import TokenBook, add_token
from receiver_support import daily, incident, telemetry

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api", reason="Playwright for Python not installed")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (Debian package chromium)")

SHOTS = os.environ.get("GEDGE_BOARD_SCREENSHOT")  # where to keep the English screenshot


def picture(color: tuple[int, int, int], text: str) -> bytes:
    img = np.full((180, 320, 3), color, np.uint8)
    cv2.putText(img, text, (20, 100), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (255, 255, 255), 2)
    return cv2.imencode(".jpg", img)[1].tobytes()


@pytest.fixture
def filled(tmp_path):
    store = open_store(tmp_path / "r.sqlite")
    toks = {d: add_token(tmp_path / "tokens", d) for d in ("room-a", "room-b")}
    add_user(tmp_path / "users", "staff", "correct horse")
    srv = ReceiverServer("127.0.0.1", 0, store, tokens=TokenBook(tmp_path / "tokens"), board_users=UserBook(tmp_path / "users"))
    srv.start_background()
    base = f"http://127.0.0.1:{srv.port}/api/v1"

    def send(device, path, body, method="POST", ctype="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        r = requests.request(method, base + path, data=data, timeout=10,
                             headers={"Authorization": f"Bearer {toks[device]}", "X-Device-Id": device, "Content-Type": ctype})
        assert r.status_code < 300, r.text
        return r

    before, after = picture((40, 40, 160), "BAG ON FLOOR"), picture((40, 140, 40), "FLOOR CLEAR")
    bag = incident("room-a", snapshot={"sha256": hashlib.sha256(before).hexdigest(), "bytes": len(before)},
                   site={"community": "飘鹰居民区", "point_id": "HK-JXL-0317"})
    send("room-a", "/incidents", bag)
    send("room-a", f"/incidents/{bag['id']}/snapshot", before, "PUT", "image/jpeg")
    closed = {**bag, "rev": 2, "state": "resolved", "resolved_at": bag["opened_at"],
              "snapshot": {"sha256": hashlib.sha256(after).hexdigest(), "bytes": len(after)}}
    send("room-a", "/incidents", closed)
    send("room-a", f"/incidents/{bag['id']}/snapshot", after, "PUT", "image/jpeg")
    full = incident("room-b", type_="bin_full", site={"community": "凉城新村", "point_id": "HK-LC-0101"},
                    subject={"zone": None, "bin_id": "bin-1", "sensor_id": None})
    send("room-b", "/incidents", full)
    fault = incident("room-b", type_="storage_fault", severity="critical", measurements={"reason": "disk full"},
                     site={"community": "凉城新村", "point_id": "HK-LC-0101"})
    send("room-b", "/incidents", fault)
    now = time.time()
    for h in range(22, -1, -2):  # the day's curve, as the box measured it
        t = dt.datetime.fromtimestamp(now - h * 3600, dt.timezone(dt.timedelta(hours=8))).isoformat(timespec="milliseconds")
        for dev in ("room-a", "room-b"):
            send(dev, "/telemetry", {**telemetry(dev, fill=min(99.0, 10 + (24 - h) * 3.5), nh3=1 + (h % 5)), "sent_at": t})
    send("room-a", "/daily", daily("room-a", added=410.5))
    send("room-b", "/daily", daily("room-b", added=123.0))
    yield f"http://127.0.0.1:{srv.port}", bag["id"]
    srv.shutdown()
    srv.server_close()
    store.close()


def test_board_in_chromium_zh_and_en(filled, tmp_path):
    url, bag_id = filled
    assert requests.get(f"{url}/board/picture/{bag_id}/open", timeout=5).status_code == 401  # pictures need a login
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1600}, locale="en-US")
            page.goto(f"{url}/board?lang=en")
            assert page.url.endswith("/board/login")  # behind a login
            page.fill("#name", "staff")
            page.fill("#password", "wrong password")
            page.click("#login")
            assert page.is_visible("#login-error")
            page.fill("#name", "staff")
            page.fill("#password", "correct horse")
            page.click("#login")
            page.wait_for_url(f"{url}/board")
            text = page.inner_text("main")
            for expected in ("飘鹰居民区", "凉城新村", "bag outside the bins", "bin full", "storage fault", "critical",
                             "Daily statistics", "410.5", "wet waste", "room-a", "room-b", "disk full"):
                assert expected in text, expected
            # the bag incident shows its opening and resolving pictures side by side, both loaded
            card = page.locator(f".incident[data-id='{bag_id}']")
            for role in ("open", "resolve"):
                width = card.locator(f"img.pic-{role}").evaluate("img => img.complete ? img.naturalWidth : 0")
                assert width == 320, role
            # a fill and an odor curve per box, each with the day's points
            assert page.locator(".plot-fill svg polyline").count() == 2
            assert page.locator(".plot-odor svg polyline").count() >= 2
            points = page.locator(".plot-fill svg polyline").first.get_attribute("points").split()
            xs = [float(p.split(",")[0]) for p in points]
            assert len(points) == 12 and max(xs) - min(xs) > 250  # spread over the day, not piled up at "now"
            assert page.locator("#health tr").count() == 3  # header + two boxes
            shot = tmp_path / "board-en.png"
            page.screenshot(path=str(shot), full_page=True)
            if SHOTS:
                shutil.copy(shot, SHOTS)
            # the same page in Chinese, the choice kept in a cookie
            page.goto(f"{url}/board?lang=zh")
            zh = page.inner_text("body")
            for expected in ("垃圾厢房", "垃圾落地", "满溢", "湿垃圾", "每日统计", "严重"):
                assert expected in zh, expected
            page.goto(f"{url}/board")
            assert "每日统计" in page.inner_text("body")
            page.click("text=退出")
            page.wait_for_url(f"{url}/board/login")
            page.goto(f"{url}/board")
            assert page.url.endswith("/board/login")
        finally:
            browser.close()
