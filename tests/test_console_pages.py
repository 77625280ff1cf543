"""The console's pages in a real headless Chromium (Debian's `chromium`, driven by Playwright),
against a real `gedge console` on a real `gedge run --simulation`: a floor polygon drawn by
clicking on the camera picture, saved, the agent reloading onto it and the page drawing it on
the next picture; a polygon the config layer refuses, with its message beside the zone and the
file untouched; the simulated bin filling on the plot; a bag incident with its picture; the
login asked off localhost; Chinese and English; a phone's screen.

GEDGE_CONSOLE_SCREENSHOTS=DIR keeps a screenshot of each page there (docs/console/*.png)."""
from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from console_support import free_port, start_agent, start_console, stop, wait_until, write_config
from edge.config import load_file

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api", reason="Playwright for Python not installed")
MODEL = Path(__file__).resolve().parent.parent / "models" / "garbage-yolo.onnx"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (Debian package chromium)"),
    pytest.mark.skipif(not MODEL.exists(), reason="the shipped model models/garbage-yolo.onnx is missing"),
]

SHOTS = os.environ.get("GEDGE_CONSOLE_SCREENSHOTS")
PASSWORD = "garbage-room-7"

# a bag dropped beside the bins and left there; bin-1 fills steadily (distance falls)
SCENARIO = """
name: console
description: a bag left on the floor while bin-1 fills
duration_s: 1800
rules: {remind_after_s: 2, incident_after_s: 5, clear_after_s: 5}
timeline:
  - {t: 1, action: enter, actor: p1, from: right, to: [520, 390], carrying: black_bag, bag: b1}
  - {t: 3, action: drop, actor: p1, at: [540, 410]}
  - {t: 4, action: leave, actor: p1, to: right}
sensors:
  bin-1-level: [[0, 1150], [150, 260], [1800, 260]]
  odor-1: [[0, 1.5], [1800, 2.5]]
"""


def shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / name), full_page=True)


class RefusingPlatform:
    """A platform that refuses every document for good (422): what the agent sends becomes a
    dead letter, for the dead-letter list and its Retry button."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _answer(self, status: int, body: bytes = b"") -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_HEAD(self):
                self._answer(200)

            def do_POST(self):
                self._answer(422, b'{"errors": ["schema: this platform takes nothing"]}')

            do_PUT = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("console")
    scenario = tmp / "console.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    (tmp / "token").write_text("console-token\n")
    platform = RefusingPlatform()
    config = write_config(tmp, scenario=str(scenario), **{
        "rules.bag_outside_bin.remind_after_s": 2, "rules.bag_outside_bin.incident_after_s": 5,
        "rules.bag_outside_bin.clear_after_s": 5,
        "actuators[0].min_off_s": 0,  # the relay test may switch the fan at once
        "uplink.http.enabled": True, "uplink.http.base_url": f"http://127.0.0.1:{platform.port}/api",
        "uplink.http.token_file": str(tmp / "token"), "uplink.http.token_credential": None,
        "uplink.telemetry_s": 5})
    agent = start_agent(config, tmp / "agent.log")
    port = free_port()
    try:
        console = start_console(config, port, tmp / "console.log")
    except BaseException:
        stop(agent)
        platform.close()
        raise
    yield {"url": f"http://127.0.0.1:{port}", "config": config, "tmp": tmp, "agent": agent}
    stop(console)
    stop(agent)
    platform.close()


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="en-US")
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("dialog", lambda d: d.accept())  # "is the bin empty now?", "leave with changes not saved?": yes
    yield pg
    context.close()
    assert not errors, f"script errors on the page: {errors}"


def _frame_click(page, x: float, y: float, w: int = 640, h: int = 480) -> None:
    """A click on the camera picture at camera pixel (x, y)."""
    box = page.locator("#overlay").bounding_box()
    page.mouse.click(box["x"] + x / w * box["width"], box["y"] + y / h * box["height"])


def _points(attr: str) -> list[list[float]]:
    return [[float(v) for v in p.split(",")] for p in attr.split()]


def test_overview_and_an_incident_with_its_picture_in_chinese_and_english(room, page):
    url = room["url"]
    page.goto(f"{url}/incidents?lang=en")
    card = page.locator(".incident[data-type='bag_outside_bin']").first
    card.wait_for(timeout=90_000)  # the bag is dropped at 3 s and becomes an incident 5 s later
    img = card.locator("img.picture")
    wait_until(lambda: img.evaluate("i => i.complete && i.naturalWidth") > 0, 30, 0.5, "the incident's picture")
    assert "bag outside the bins" in card.inner_text()
    incident_id = card.get_attribute("data-id")
    pic = requests.get(f"{url}/api/incidents/{incident_id}/picture.jpg", timeout=10)
    assert pic.status_code == 200 and pic.content[:2] == b"\xff\xd8"
    assert page.locator("#outbox-table tr").count() > 0
    shot(page, "incidents.png")

    page.goto(f"{url}/?lang=en")
    page.locator("#agent-facts dt").first.wait_for(timeout=20_000)
    facts = page.inner_text("#agent-facts")
    state = requests.get(f"{url}/api/state", timeout=10).json()
    assert state["device"]["id"] in facts and str(state["agent"]["pid"]) in facts
    page.locator(f"#open-list li[data-id='{incident_id}']").wait_for(timeout=20_000)
    assert page.locator("#health-table tr[data-key='camera'] td").inner_text() == "ok"
    shot(page, "overview.png")

    # the same pages in Chinese; the choice is kept in a cookie
    page.goto(f"{url}/incidents?lang=zh")
    page.locator(f".incident[data-id='{incident_id}']").wait_for(timeout=20_000)
    zh = page.inner_text("body")
    for expected in ("垃圾厢房维护台", "未处理事件", "垃圾落地", "发件箱"):
        assert expected in zh, expected
    page.goto(f"{url}/")
    assert "概览" in page.inner_text("nav")
    page.locator("#agent-facts dt").first.wait_for(timeout=20_000)
    assert "设备" in page.inner_text("#agent-facts")
    shot(page, "overview-zh.png")


def test_a_dead_letter_is_listed_and_retried_from_the_page(room, page):
    page.goto(f"{room['url']}/incidents?lang=en")
    row = page.locator("#deadletters tr[data-seq]").first
    row.wait_for(timeout=60_000)  # the refusing platform turns the first telemetry into a dead letter
    seq = row.get_attribute("data-seq")
    assert "422" in row.inner_text()
    row.locator("button.retry").click()
    page.locator("#deadletters-message p.ok").wait_for(timeout=20_000)
    # queued again: it leaves the dead letters (to come back under a new number once refused again)
    wait_until(lambda: page.locator(f"#deadletters tr[data-seq='{seq}']").count() == 0, 30, 0.5,
               f"dead letter #{seq} to leave the list")


def test_the_fill_plot_shows_the_simulated_bin_filling(room, page):
    page.goto(f"{room['url']}/sensors?lang=en")
    card = page.locator(".sensor[data-sensor='bin-1-level']")
    card.wait_for(timeout=30_000)

    def plotted():  # what uPlot holds for its drawing: the times and the fill levels
        return page.evaluate("() => { const c = window.consoleCharts['bin-1-level'];"
                             " return c && c.plot ? [c.plot.data[0].slice(), c.plot.data[1].slice()] : null; }")

    def filling():
        data = plotted()
        return data and len(data[1]) >= 6 and data[1][-1] - data[1][0] >= 5

    wait_until(filling, 90, 0.5, "the fill plot to show the bin filling")
    xs, ys = plotted()
    assert xs == sorted(xs), "points in time order"
    assert max(ys) <= 100 and min(ys) >= 0
    assert card.locator("canvas").count() >= 1 and card.locator("canvas").first.evaluate("c => c.width") > 0
    assert card.locator(".value").inner_text().endswith("%")
    assert card.locator("button.cal-empty").is_visible() and card.locator("button.cal-full").is_visible()
    assert page.locator(".sensor[data-sensor='odor-1'] canvas").count() >= 1
    shot(page, "sensors.png")

    # "the bin is empty now": the sensor's current distance becomes empty_mm in the file
    config = room["config"]
    assert load_file(config).sensors[0].empty_mm == 1200
    card.locator("button.cal-empty").click()
    card.locator(".calibrate-message p.ok").wait_for(timeout=30_000)
    empty_mm = load_file(config).sensors[0].empty_mm
    assert 260 < empty_mm < 1150, empty_mm  # a distance the simulated bin passed through, not the old 1200
    assert "# distance to the bottom of the empty bin" in config.read_text(encoding="utf-8")


def test_a_floor_drawn_by_clicking_is_saved_and_the_agent_uses_it(room, page):
    url, config = room["url"], room["config"]
    before = load_file(config)
    loaded_before = requests.get(f"{url}/api/state", timeout=10).json()["agent"]["config_loaded_at"]
    new_floor = [[24, 296], [616, 296], [616, 472], [24, 472]]

    page.goto(f"{url}/zones?lang=en")
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    row = page.locator(".zone-row[data-zone='floor']")
    row.locator("button.select").click()
    row.locator("button.redraw").click()
    for x, y in new_floor:
        _frame_click(page, x, y)
    page.locator(".zone-row[data-zone='floor'] button.done").click()
    drawn = _points(page.locator("#overlay polygon.zone.floor").get_attribute("points"))
    assert len(drawn) == 4 and all(abs(a - b) <= 2 for p, q in zip(drawn, new_floor) for a, b in zip(p, q))
    saved_at = time.time() * 1000
    page.click("#save")
    page.locator("#active-now").wait_for(timeout=60_000)  # saved, the agent reloaded and reports the zone

    # the file holds the new floor, keeps its comments and the rest; the agent uses it now
    after = load_file(config)
    assert [list(p) for p in after.zones.floor] == drawn
    assert [b.model_dump() for b in after.zones.bins] == [b.model_dump() for b in before.zones.bins]
    assert "# the watched floor" in config.read_text(encoding="utf-8")
    state = requests.get(f"{url}/api/state", timeout=10).json()
    assert state["zones"]["floor"] == drawn
    assert state["agent"]["config_loaded_at"] > loaded_before
    # ... and the page draws what the agent uses on a picture fetched after the save
    active = _points(page.locator("#overlay polygon.active.floor").get_attribute("points"))
    assert active == drawn
    assert float(page.locator("#frame").get_attribute("data-loaded-at")) > saved_at
    shot(page, "zones.png")


def test_an_invalid_polygon_is_refused_beside_the_zone_and_the_file_is_untouched(room, page):
    url, config = room["url"], room["config"]
    text_before = config.read_bytes()
    active_before = requests.get(f"{url}/api/zones", timeout=10).json()["active"]
    page.goto(f"{url}/zones?lang=en")
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    row = page.locator(".zone-row[data-zone='floor']")
    row.locator("button.select").click()
    row.locator("button.redraw").click()
    _frame_click(page, 40, 300)
    _frame_click(page, 600, 300)  # two corners: not a polygon
    page.locator(".zone-row[data-zone='floor'] button.done").click()
    page.click("#save")
    errors = page.locator(".zone-row[data-zone='floor'] .zone-errors li")
    errors.first.wait_for(timeout=20_000)
    assert "3 points" in errors.first.inner_text()
    assert page.locator("#refused").is_visible()
    assert page.locator("#overlay polygon.zone.floor.invalid, #overlay polyline.zone.floor.invalid").count() == 1
    shot(page, "zones-refused.png")
    assert config.read_bytes() == text_before, "a refused save leaves the file as it was"
    assert requests.get(f"{url}/api/zones", timeout=10).json()["active"] == active_before

    # the same refusal in Chinese, in the language of the page
    page.goto(f"{url}/zones?lang=zh")
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    row = page.locator(".zone-row[data-zone='bin-0']")
    row.locator("button.select").click()
    row.locator("button.redraw").click()
    _frame_click(page, 100, 100)
    page.locator(".zone-row[data-zone='bin-0'] button.done").click()
    page.click("#save")
    page.locator(".zone-row[data-zone='bin-0'] .zone-errors li").first.wait_for(timeout=20_000)
    assert "3" in page.inner_text(".zone-row[data-zone='bin-0'] .zone-errors")
    assert "未保存" in page.inner_text("#zones-message")
    assert config.read_bytes() == text_before


def test_the_zone_editor_on_a_phone(room, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True, locale="zh-CN")
    page = context.new_page()
    try:
        for path in ("/", "/sensors", "/incidents", "/tools"):  # every page fits the phone's width
            page.goto(f"{room['url']}{path}")
            page.wait_for_load_state("networkidle")
            assert page.evaluate("() => document.documentElement.scrollWidth") <= 390, path
        page.goto(f"{room['url']}/zones")  # no ?lang: the phone's zh-CN
        page.wait_for_selector("body[data-ready='1']", timeout=30_000)
        assert "区域" in page.inner_text("nav")
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390, "no sideways scrolling"
        box = page.locator("#overlay").bounding_box()
        assert box["width"] <= 390 and box["height"] > 100
        # a finger drags the floor's first corner
        corner = page.locator("#overlay circle.corner").first
        c = corner.bounding_box()
        assert c["width"] >= 16, "corners big enough for a finger"
        x0, y0 = c["x"] + c["width"] / 2, c["y"] + c["height"] / 2
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move(x0 + 40, y0 - 30, steps=5)
        page.mouse.up()
        moved = _points(page.locator("#overlay polygon.zone.floor").get_attribute("points"))[0]
        saved = requests.get(f"{room['url']}/api/zones", timeout=10).json()["floor"][0]
        assert moved != saved
        assert page.locator("#zones-message").inner_text().strip()  # "changes not saved yet"
        shot(page, "zones-phone.png")
        page.click("#revert")
        assert _points(page.locator("#overlay polygon.zone.floor").get_attribute("points"))[0] == saved
    finally:
        context.close()


def test_the_tools_page_runs_the_doctor(room, page):
    page.goto(f"{room['url']}/tools?lang=en")
    page.click("#run-doctor")
    page.locator("#doctor tr").first.wait_for(timeout=120_000)
    assert page.locator("#doctor tr").count() >= 3
    page.locator("#relays button.relay, #relays p").first.wait_for(timeout=20_000)
    page.click("#test-speaker")
    page.locator("#speaker-message p.ok").wait_for(timeout=20_000)
    page.click("#relays button.relay[data-relay='fan-1']")
    page.locator("#relay-message p.ok, #relay-message li.error").first.wait_for(timeout=20_000)
    assert "fan-1" in page.inner_text("#relay-message")
    shot(page, "tools.png")


def _lan_address() -> str | None:
    """This machine's address on its network (not loopback), if it has one."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
        addr = s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()
    return None if addr.startswith("127.") else addr


def test_the_login_is_asked_off_localhost(room, browser):
    from edge.console.auth import password_path, set_password

    host = _lan_address()
    if host is None:
        pytest.skip("this machine has no address besides loopback")
    set_password(password_path(room["config"]), PASSWORD)
    port = free_port()
    lan = start_console(room["config"], port, room["tmp"] / "console-lan.log", host=host)
    base = f"http://{host}:{port}"
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    try:
        assert requests.get(f"{base}/api/state", timeout=10).status_code == 401
        page.goto(f"{base}/zones")
        assert "/login" in page.url and page.is_visible("#password")
        assert "登录" in requests.get(f"{base}/login?lang=zh", timeout=10).text
        page.fill("#password", "not the password")
        page.click("#login")
        page.wait_for_selector("#login-error")
        shot(page, "login.png")
        page.fill("#password", PASSWORD)
        page.click("#login")
        page.wait_for_url(f"{base}/zones")
        page.wait_for_selector("body[data-ready='1']", timeout=30_000)  # the API answers with the session
        assert page.is_visible("#logout")
        cookies = context.cookies()
        assert cookies and all(PASSWORD not in c["value"] for c in cookies), "no secret in the page's cookies"
        assert PASSWORD not in page.content()
        page.click("#logout")
        page.wait_for_url(lambda u: "/login" in u)
        page.goto(f"{base}/sensors")
        assert "/login" in page.url
    finally:
        context.close()
        stop(lan)
