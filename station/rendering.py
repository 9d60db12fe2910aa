"""Jinja2 for the station's pages, overridable by a deployment.

A ChoiceLoader looks first in env CSQ_TEMPLATE_DIR (when set), then in station/html: a
deployment can replace one template (say base.html with its own header) without forking
the code, as datasette does.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from station import auth, limits

HTML_DIR = Path(__file__).resolve().parent / "html"
STATIC_DIR = Path(__file__).resolve().parent / "static"


def _static_versions() -> dict[str, str]:
    # A content hash in each static URL: browsers cache the files for long and still never
    # run yesterday's review.js after an upgrade.
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:10] for p in STATIC_DIR.iterdir() if p.is_file()}


def make_environment() -> Environment:
    loaders = []
    override = os.environ.get("CSQ_TEMPLATE_DIR")
    if override:
        loaders.append(FileSystemLoader(override))
    loaders.append(FileSystemLoader(str(HTML_DIR)))
    env = Environment(loader=ChoiceLoader(loaders), autoescape=select_autoescape(["html"]), trim_blocks=False)
    versions = _static_versions()
    env.globals["static_url"] = lambda name: f"/static/{name}?v={versions.get(name, '0')}"
    env.globals["csrf_field"] = limits.CSRF_FIELD
    return env


def render(env: Environment, request: Request, template: str, *, status_code: int = 200, **context) -> HTMLResponse:
    """A page, with what every page needs: the person logged in and the CSRF token."""
    html = render_fragment(env, request, template, **context)
    return HTMLResponse(html, status_code=status_code)


def render_fragment(env: Environment, request: Request, template: str, **context) -> str:
    has_session = "session" in request.scope  # not for errors caught outside the middleware
    context.setdefault("staff", _staff_or_none(request) if has_session else None)
    context.setdefault("csrf", auth.csrf_token(request) if has_session else "")
    context.setdefault("flashes", pop_flashes(request))
    return env.get_template(template).render(**context)


def _staff_or_none(request: Request):
    try:
        return auth.current_staff(request)
    except auth.LoginRequired:
        return None


def flash(request: Request, kind: str, text: str) -> None:
    """A one-time message shown on the next page (after a redirect)."""
    request.session.setdefault("flashes", [])
    request.session["flashes"] = request.session["flashes"][-4:] + [{"kind": kind, "text": text}]


def pop_flashes(request: Request) -> list[dict]:
    if "session" not in request.scope:
        return []
    return request.session.pop("flashes", None) or []
