"""A size limit on the body of every staff and candidate request, checked before anything reads it.

Staff forms are a few hundred bytes (a correction, a login, a group of 40 ticks); the online
API (/api/) has its own limit and reader (station/api.py). Every other request may carry at
most FORM_MAX_BODY_BYTES: a declared Content-Length above it is answered 413 at once, and a
body without one (chunked) is counted as it arrives and cut off at the limit, so that a
200 MB post to /login costs the server nothing before its 403. Multipart bodies (uploads)
are refused 415: no page of the station takes a file.

A plain ASGI middleware: the body, once under the limit, is handed to the application as
it came, so Starlette's form parser and the CSRF check read it as before.
"""

from __future__ import annotations

import json

from station import limits

API_PREFIX = "/api/"


def _answer(scope, status: int, message: str):
    accept = dict(scope.get("headers") or ()).get(b"accept", b"")
    if b"application/json" in accept:
        body, media = json.dumps({"error": message, "status": status}).encode(), b"application/json"
    else:
        body, media = f"<!doctype html><title>{status}</title><p>{message}</p>".encode(), b"text/html; charset=utf-8"

    async def respond(send) -> None:
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", media), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    return respond


TOO_LARGE = (f"Requête trop volumineuse (limite {limits.FORM_MAX_BODY_BYTES // 1024} Kio). · "
             f"The request is too large (limit {limits.FORM_MAX_BODY_BYTES // 1024} KiB).")
NO_MULTIPART = "Aucun envoi de fichier ici. · No file uploads here (multipart/form-data is refused)."


class FormBodyLimit:
    def __init__(self, app, max_bytes: int = limits.FORM_MAX_BODY_BYTES):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"].startswith(API_PREFIX):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or ())
        if headers.get(b"content-type", b"").split(b";")[0].strip().lower().startswith(b"multipart/"):
            return await _answer(scope, 415, NO_MULTIPART)(send)
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                return await _answer(scope, 400, "Content-Length invalide · invalid Content-Length")(send)
            if int(declared) > self.max_bytes:
                return await _answer(scope, 413, TOO_LARGE)(send)
        # Read what comes (at most the limit), then hand it over as one message.
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return await _answer(scope, 413, TOO_LARGE)(send)
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, delivered = b"".join(chunks), False

        async def replay():
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
