"""Jinja2 pages in the reader's language, shared by the platform's board and the box's console.

The language of a page is `?lang=zh|en`, then the `lang` cookie, then the first of zh/en the
browser's Accept-Language names, else the site's default. Templates use `_()` (the gettext
catalogues of edge/locale), `label()` for the contract's values and the `num` filter.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from . import i18n
from .i18n import N_

# the contract's values as people read them (N_: translated where shown, in the page's language)
LABELS = {
    "bag_outside_bin": N_("bag outside the bins"), "bin_full": N_("bin full"), "odor_high": N_("odor high"),
    "sensor_fault": N_("sensor fault"), "camera_fault": N_("camera fault"), "storage_fault": N_("storage fault"),
    "collection_overdue": N_("collection overdue"), "bin_emptied": N_("bin emptied"),
    "info": N_("info"), "warning": N_("warning"), "critical": N_("critical"),
    "open": N_("open"), "resolved": N_("resolved"),
    "wet": N_("wet waste"), "dry": N_("dry waste"), "recyclable": N_("recyclable"), "hazardous": N_("hazardous waste"),
}


def num(value) -> str:
    """Figures as people read them: 246.3, not 246.29999999999998."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return str(value) if isinstance(value, int) else f"{value:.1f}"


def labels(lang: str) -> dict[str, str]:
    """LABELS in `lang` (for a page's script, which shows the values it fetches)."""
    gettext_ = i18n.translations(lang).gettext
    return {key: gettext_(text) for key, text in LABELS.items()}


class Pages:
    """The templates of one folder, one Jinja2 environment per language (made on first use)."""

    def __init__(self, template_dir: str | Path):
        self.template_dir = str(template_dir)
        self._envs: dict[str, Environment] = {}

    def _environment(self, lang: str) -> Environment:
        env = self._envs.get(lang)
        if env is None:
            env = Environment(loader=FileSystemLoader(self.template_dir), autoescape=select_autoescape(["html"]),
                              extensions=["jinja2.ext.i18n"])
            env.install_gettext_translations(i18n.translations(lang), newstyle=True)  # type: ignore[attr-defined]
            env.filters["num"] = num
            self._envs[lang] = env
        return env

    def render(self, template: str, lang: str, **context) -> str:
        gettext_ = i18n.translations(lang).gettext

        def label(value) -> str:
            text = LABELS.get(str(value))
            return gettext_(text) if text else str(value)

        return self._environment(lang).get_template(template).render(lang=lang, label=label, **context)


def pick_language(request, default: str = "en") -> str:
    """`?lang=`, the `lang` cookie, then Accept-Language (its first zh or en), else `default`."""
    for candidate in (request.query_params.get("lang"), request.cookies.get("lang")):
        if candidate in i18n.LANGUAGES:
            return candidate
    for part in (request.headers.get("accept-language") or "").lower().split(","):
        tag = part.split(";")[0].strip()
        for lang in i18n.LANGUAGES:
            if tag == lang or tag.startswith(lang + "-"):
                return lang
    return default


def page_response(request, html: str, lang: str, status: int = 200):
    """The page, allowed only this server's own scripts and styles (no CDN, no inline script),
    with the language chosen by `?lang=` kept in a cookie."""
    resp = HTMLResponse(html, status_code=status, headers={"content-security-policy": "default-src 'self'"})
    if request.query_params.get("lang") in i18n.LANGUAGES:
        resp.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax")
    return resp


__all__ = ["LABELS", "Pages", "labels", "num", "page_response", "pick_language"]


MAX_FORM = 4096  # a login form: a name, a password and a return path


async def read_form(request) -> dict[str, str] | None:
    """A posted form's first value per field, or None when the body passes MAX_FORM (answer 413):
    read in chunks and stopped there, so a huge body costs nothing before the login."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return None
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
