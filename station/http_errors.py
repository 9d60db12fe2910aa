"""The one error handler of the station: every failure becomes one answer a person can use.

Library code raises errors.CsqError subclasses; this module alone maps them to HTTP
statuses (InvalidData 422 with the problems, ConflictError 409, PermissionDenied 403,
NotFound 404, DatabaseError 503, ...). API calls and fetch() get JSON; browsers get a page.
No traceback ever reaches a client; unexpected errors are logged with theirs.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

import errors
from station import auth
from station.rendering import render

log = logging.getLogger("csq.station")

# The order matters: the first class that matches wins (subclasses before their bases).
STATUS_BY_ERROR: tuple[tuple[type[errors.CsqError], int], ...] = (
    (errors.InvalidData, 422),
    (errors.ConflictError, 409),
    (errors.PermissionDenied, 403),
    (errors.NotFound, 404),
    (errors.DatabaseError, 503),
    (errors.StorageError, 507),
    (errors.BadArguments, 400),
    (errors.InputFileError, 400),
)

HEADINGS = {
    400: "Requête invalide · Bad request",
    401: "Connexion requise · Login required",
    403: "Refusé · Forbidden",
    404: "Introuvable · Not found",
    405: "Méthode refusée · Method not allowed",
    409: "Conflit · Conflict",
    413: "Trop volumineux · Too large",
    415: "Type de contenu refusé · Unsupported media type",
    422: "Données invalides · Invalid data",
    500: "Erreur interne · Internal error",
    503: "Registre indisponible · Registry unavailable",
    507: "Stockage plein · Storage full",
}


class HttpProblem(Exception):
    """A refusal decided by the station itself (413, 415, 400 on malformed JSON, 401...)."""

    def __init__(self, status: int, message: str, *, problems: list[dict] | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.problems = problems or []
        self.headers = headers or {}


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", "")


def problem_dicts(problems) -> list[dict]:
    out = []
    for p in problems:
        if hasattr(p, "to_dict"):
            out.append(p.to_dict())
        elif isinstance(p, dict):
            out.append(p)
        else:
            out.append({"field": None, "code": "other", "message_fr": str(p), "message_en": str(p)})
    return out


def status_of(exc: errors.CsqError) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return 500


def respond(request: Request, status: int, message: str, *, problems: list[dict] | None = None,
            headers: dict | None = None, extra: dict | None = None) -> Response:
    if wants_json(request):
        body = {"error": message, "status": status}
        if problems:
            body["problems"] = problems
        if extra:
            body.update(extra)
        return JSONResponse(body, status_code=status, headers=headers)
    env = request.app.state.templates
    response = render(env, request, "error.html", status_code=status, status=status, heading=HEADINGS.get(status, str(status)),
                      message=message, problems=problems or [], back_url=request.headers.get("referer"))
    for k, v in (headers or {}).items():
        response.headers[k] = v
    return response


async def handle_exception(request: Request, exc: Exception) -> Response:
    if isinstance(exc, auth.LoginRequired):
        if wants_json(request):
            return respond(request, 401, "login required: open /login")
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    if isinstance(exc, auth.CsrfRefused):
        return respond(request, 403, "CSRF token missing or wrong: reload the page and try again "
                                     "(jeton CSRF absent ou invalide : rechargez la page)")
    if isinstance(exc, HttpProblem):
        return respond(request, exc.status, exc.message, problems=exc.problems, headers=exc.headers)
    if isinstance(exc, errors.CsqError):
        status = status_of(exc)
        problems = problem_dicts(getattr(exc, "problems", []) or [])
        if status >= 500:
            log.warning("%s %s: %s", request.method, request.url.path, exc)
        return respond(request, status, str(exc), problems=problems)
    if isinstance(exc, RequestValidationError):
        problems = [{"field": ".".join(str(x) for x in e.get("loc", ())[1:]) or None, "code": e.get("type", "invalid"),
                     "message_fr": e.get("msg", ""), "message_en": e.get("msg", "")} for e in exc.errors()]
        return respond(request, 422, "the request is incomplete or malformed", problems=problems)
    if isinstance(exc, StarletteHTTPException):
        return respond(request, exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return respond(request, 500, "unexpected error: it has been logged; try again, and tell the administrator if it persists")


def install(app: FastAPI) -> None:
    for cls in (Exception, errors.CsqError, auth.LoginRequired, auth.CsrfRefused, HttpProblem,
                RequestValidationError, StarletteHTTPException):
        app.add_exception_handler(cls, handle_exception)
