"""The web application: the staff review station and the online channel's API, one process.

`create_app(db_url, data_dir)` opens the registry (migrating it), and wires sessions, the
one error handler, the static files and the two routers. `csq serve` runs it with uvicorn.
"""

from __future__ import annotations

import logging
import os
from contextlib import asynccontextmanager
from datetime import timedelta
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment
from starlette.middleware.sessions import SessionMiddleware

from errors import CsqError
from registry import review_claims
from station import api, auth, http_errors, limits, mailroom_page, pages, public
from station.images import PageImages
from station.online_intake import SubmissionBatcher
from templates.spec import load_form
from station.rendering import STATIC_DIR, make_environment
from station.review import ReviewDesk

log = logging.getLogger("csq.station")

# Sent with every answer: no framing (clickjacking a correction), no MIME sniffing of
# uploaded-looking content, no referrer leaking file numbers to other sites. The page
# outline of a field uses an inline style attribute, hence 'unsafe-inline' for styles only.
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'"),
]


@dataclass
class Station:
    """What every route needs, kept on app.state.station."""

    registry: object
    images: PageImages
    templates: Environment
    desk: ReviewDesk
    intake: SubmissionBatcher
    logins: auth.LoginThrottle


class SecurityHeaders:
    """A plain ASGI middleware (cheaper per request than BaseHTTPMiddleware: the API is hot)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [h for h in SECURITY_HEADERS if h[0] not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(db_url: str, data_dir: Path, *, public_only: bool = False) -> FastAPI:
    """The station. `public_only`: the candidates' pages alone (no staff route, no image, no
    API), for a host open to the Internet while the review station stays inside."""
    from registry.service import Registry

    data_dir = Path(data_dir)
    load_form()  # the template parsed once, now, rather than inside the first request
    registry = Registry.open(db_url, data_dir)
    if public_only:
        return _public_app(registry)
    review_claims.ensure_schema(registry.db)
    images = PageImages(data_dir)
    station = Station(registry=registry, images=images, templates=make_environment(), desk=ReviewDesk(registry, images),
                      intake=SubmissionBatcher(registry), logins=auth.LoginThrottle())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Letters of registrations a previous run answered but stopped before writing.
        since = registry.policy.today() - timedelta(days=limits.LETTER_CATCH_UP_DAYS)
        try:
            station.intake.letters.add(registry.letters_missing(since))
        except CsqError as exc:  # the station still serves; `csq letters print` writes them too
            log.warning("letters left by an earlier run not queued: %s", exc)
        yield
        registry.close()

    app = FastAPI(title="csq-intake station", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json")
    app.state.station = station
    app.state.templates = station.templates
    http_errors.install(app)
    app.add_route("/api/applications", api.submit_application, methods=["POST"])
    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(mailroom_page.router)
    public.install(app, registry, station.templates)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.add_middleware(
        SessionMiddleware,
        secret_key=auth.load_secret_key(data_dir),
        session_cookie=limits.SESSION_COOKIE,
        max_age=limits.SESSION_MAX_AGE_S,
        same_site="strict",
        # Behind TLS (production), set CSQ_SECURE_COOKIES=1: the cookie never travels in clear.
        https_only=os.environ.get("CSQ_SECURE_COOKIES") == "1",
    )
    app.add_middleware(SecurityHeaders)
    return app


def _public_app(registry) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        registry.close()

    app = FastAPI(title="csq-intake: candidates' pages", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    http_errors.install(app)
    public.install(app, registry, make_environment())
    app.add_api_route("/healthz", pages.health)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.add_middleware(SecurityHeaders)
    return app


def app_from_env() -> FastAPI:
    """For `uvicorn --factory station.app:app_from_env [--workers N]`: the registry and data
    folder from CSQ_DATABASE_URL and CSQ_DATA_DIR, as `csq` reads them."""
    return create_app(os.environ.get("CSQ_DATABASE_URL", "sqlite:///csq-data/registry.db"),
                      Path(os.environ.get("CSQ_DATA_DIR", "csq-data")))


def public_app_from_env() -> FastAPI:
    """The candidates' pages alone (`csq serve --public`), for `uvicorn --factory`."""
    return create_app(os.environ.get("CSQ_DATABASE_URL", "sqlite:///csq-data/registry.db"),
                      Path(os.environ.get("CSQ_DATA_DIR", "csq-data")), public_only=True)
