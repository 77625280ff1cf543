"""The console's pages without a browser: every page in Chinese and English, every asset they
name served from the package (no CDN, nothing from the internet), the page scripts allowed
nothing but this server (CSP), and the language chosen as the pages promise. A real uvicorn on
a real socket; no agent behind it (the pages are shells that read the API from the browser)."""
from __future__ import annotations

import re
import threading
from html.parser import HTMLParser
from pathlib import Path

import pytest
import requests
import uvicorn
from fastapi import FastAPI

from edge.console import pages
from edge.webpage import pick_language
from uplink_support import free_port, wait_until

STATIC = Path(pages.__file__).parent / "static"


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[str] = []
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            self._in_script = "src" not in a
            if "src" in a:
                self.refs.append(a["src"])
        elif tag == "link" and a.get("rel") == "stylesheet":
            self.refs.append(a["href"])
        elif tag == "img" and a.get("src"):
            self.refs.append(a["src"])

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline_scripts += 1

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False


@pytest.fixture(scope="module")
def server():
    app = FastAPI()
    app.include_router(pages.router)
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    wait_until(lambda: srv.started, 20, 0.05, "uvicorn to start")
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.mark.parametrize("path", [p for p, _t, _n in pages.NAV] + ["/login"])
def test_each_page_in_both_languages_with_only_its_own_assets(server, path):
    titles = {"zh": "垃圾厢房维护台", "en": "Garbage room console"}
    for lang, title in titles.items():
        r = requests.get(f"{server}{path}?lang={lang}", timeout=10)
        assert r.status_code == 200 and title in r.text
        assert r.headers["content-security-policy"] == "default-src 'self'"
        assert f"lang={lang}" in r.headers.get("set-cookie", "")
        refs = _Refs()
        refs.feed(r.text)
        assert refs.inline_scripts == 0, "the policy forbids inline scripts: the page must not need one"
        assert refs.refs, "the page loads its stylesheet and scripts"
        for ref in refs.refs:
            assert ref.startswith("/static/"), f"{path} loads {ref}: everything ships with the package"
            asset = requests.get(server + ref, timeout=10)
            assert asset.status_code == 200 and asset.content, ref


def test_the_page_texts_for_the_scripts_are_translated(server):
    import html
    import json

    zh = requests.get(f"{server}/zones?lang=zh", timeout=10).text
    data = json.loads(html.unescape(re.search(r'data-text="([^"]*)"', zh).group(1)))
    assert data["lang"] == "zh"
    assert data["text"]["refused"] != pages.SCRIPT_TEXT["refused"]  # the Chinese, not the English id
    assert data["labels"]["bag_outside_bin"] == "垃圾落地（桶外）"
    en = json.loads(html.unescape(re.search(r'data-text="([^"]*)"',
                                            requests.get(f"{server}/zones?lang=en", timeout=10).text).group(1)))
    assert en["text"]["refused"] == pages.SCRIPT_TEXT["refused"]
    assert set(en["text"]) == set(pages.SCRIPT_TEXT) and set(en["keys"]) == set(pages.KEY_TEXT)


def test_every_text_key_the_scripts_use_is_handed_to_them():
    direct = re.compile(r'\bt\("([a-z_]+)"')
    either = re.compile(r'\bt\([^?()]*\?\s*"([a-z_]+)"\s*:\s*"([a-z_]+)"')  # t(cond ? "a" : "b", …)
    used = set()
    for js in STATIC.glob("*.js"):
        text = js.read_text(encoding="utf-8")
        used |= set(direct.findall(text)) | {k for pair in either.findall(text) for k in pair}
    missing = used - set(pages.SCRIPT_TEXT)
    assert len(used) > 20 and not missing, f"texts the scripts ask for but the page does not hand them: {sorted(missing)}"


def test_no_asset_reaches_for_the_internet():
    for f in list(STATIC.rglob("*.js")) + list(STATIC.rglob("*.css")) + list((STATIC.parent / "templates").glob("*.html")):
        text = re.sub(r"/\*.*?\*/", "", f.read_text(encoding="utf-8"), flags=re.S)  # a banner comment loads nothing
        # the SVG namespace is a name, not a download; anything else would be fetched
        urls = [u for u in re.findall(r"https?://[^\s\"')]+", text) if not u.startswith("http://www.w3.org/")]
        assert not urls, f"{f.name} names {urls}"
    assert (STATIC / "vendor" / "uplot" / "LICENSE").read_text().startswith("The MIT License")


class _Req:
    def __init__(self, query=None, cookies=None, accept=None):
        self.query_params = query or {}
        self.cookies = cookies or {}
        self.headers = {"accept-language": accept} if accept else {}


@pytest.mark.parametrize("req, default, expected", [
    (_Req(query={"lang": "en"}, cookies={"lang": "zh"}, accept="zh-CN"), "zh", "en"),  # ?lang first
    (_Req(cookies={"lang": "en"}, accept="zh-CN"), "zh", "en"),  # then the cookie
    (_Req(accept="zh-CN,zh;q=0.9,en;q=0.8"), "en", "zh"),  # then the browser's first zh or en
    (_Req(accept="de-DE,de;q=0.9,en;q=0.5"), "zh", "en"),
    (_Req(accept="fr-FR"), "zh", "zh"),  # neither: the site's default
    (_Req(query={"lang": "fr"}), "en", "en"),  # a language without a catalogue is ignored
])
def test_the_language_of_a_page(req, default, expected):
    assert pick_language(req, default) == expected


def test_the_login_page_keeps_where_it_goes_next(server):
    r = requests.get(f"{server}/login?next=/zones&failed=1&lang=en", timeout=10)
    assert r.status_code == 401 and 'id="login-error"' in r.text
    assert 'name="next" value="/zones"' in r.text
    assert 'href="?next=%2Fzones&amp;failed=1&amp;lang=zh"' in r.text  # 中文 keeps the rest of the query
    for elsewhere in ("//evil.example/", "/\\evil.example/", "https://evil.example/"):
        page = requests.get(f"{server}/login", params={"next": elsewhere}, timeout=10).text
        assert 'name="next" value="/"' in page, elsewhere
