"""The online channel's API: the portal's import job posts applications into the registry.

POST /api/applications takes a data document {"fields": {...}, "submitted_at"?: ISO-8601};
the header Idempotency-Key makes a retry safe (same key: same file number, 200 instead of
201). No staff login: the caller is a program, and it must send "Authorization: Bearer
<token>" with one of the server's CSQ_API_TOKEN (station/api_access.py). The portal's
`submitted_at` is its claim: never later than now (plus a little clock skew), never before
the intake could matter, and recorded in the audit trail with the id of the token that sent it.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from registry import online
from station import limits
from station.http_errors import HttpProblem

router = APIRouter(prefix="/api")

# Printable ASCII without spaces, as long as the registry's column allows.
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,128}")


def _problem(field: str | None, code: str, fr: str, en: str) -> dict:
    return {"field": field, "code": code, "message_fr": fr, "message_en": en}


def _require_token(request: Request) -> str:
    """The id of the caller's token (see station/api_access.py); refuses the call otherwise."""
    return request.app.state.station.api_access.caller(request.headers.get("authorization"))


async def _read_json_body(request: Request) -> dict:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in limits.API_CONTENT_TYPES:
        raise HttpProblem(415, f"send the document as application/json (got {media_type or 'no Content-Type'})")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.API_MAX_BODY_BYTES:
        raise HttpProblem(413, f"the body is {declared} bytes; the limit is {limits.API_MAX_BODY_BYTES}")
    # Count what actually arrives too: a chunked body has no Content-Length to trust.
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limits.API_MAX_BODY_BYTES:
            raise HttpProblem(413, f"the body exceeds the limit of {limits.API_MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    try:
        doc = json.loads(b"".join(chunks))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HttpProblem(400, f"the body is not valid UTF-8 JSON ({exc})", problems=[_problem(
            None, "json", "Le corps de la requête n'est pas un JSON valide.", "The request body is not valid JSON.")]) from None
    except RecursionError:
        raise HttpProblem(400, "the JSON is nested too deeply to be an application", problems=[_problem(
            None, "json", "Le JSON est imbriqué trop profondément.", "The JSON is nested too deeply.")]) from None
    except ValueError as exc:  # a number of more than 4,300 digits, and the like
        raise HttpProblem(400, f"the JSON holds a value Python refuses ({str(exc)[:80]})", problems=[_problem(
            None, "json", "Le JSON contient une valeur inutilisable.", "The JSON holds an unusable value.")]) from None
    if not isinstance(doc, dict):
        raise HttpProblem(422, 'the document must be a JSON object {"fields": {...}}', problems=[_problem(
            "fields", "type", 'Le document doit être un objet JSON {"fields": {...}}.',
            'The document must be a JSON object {"fields": {...}}.')])
    return doc


def _submitted_at(doc: dict, request_policy) -> datetime | None:
    raw = doc.get("submitted_at")
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise HttpProblem(422, "submitted_at must be an ISO-8601 time with its offset, e.g. 2026-10-05T14:03:00-04:00",
                          problems=[_problem("submitted_at", "date",
                                             "« submitted_at » doit être une date-heure ISO 8601 avec son fuseau, ex. 2026-10-05T14:03:00-04:00.",
                                             "\u201csubmitted_at\u201d must be an ISO-8601 date-time with its offset, e.g. 2026-10-05T14:03:00-04:00.")])
    now = datetime.now(timezone.utc)
    if moment > now + timedelta(seconds=limits.API_CLOCK_SKEW_S):
        raise HttpProblem(422, f"submitted_at {raw} is in the future (server time {now:%Y-%m-%dT%H:%M:%SZ}): "
                               "send the moment the candidate submitted, and check the portal's clock",
                          problems=[_problem("submitted_at", "future",
                                             "« submitted_at » est dans le futur.", "\u201csubmitted_at\u201d is in the future.")])
    earliest = _earliest_submission(request_policy)
    if moment < earliest:
        raise HttpProblem(422, f"submitted_at {raw} is before {earliest:%Y-%m-%d}, long before this intake opened: "
                               "check the portal's dates",
                          problems=[_problem("submitted_at", "too_early",
                                             "« submitted_at » est antérieur à l'ouverture de la période.",
                                             "\u201csubmitted_at\u201d is before the intake opened.")])
    return moment


def _earliest_submission(policy) -> datetime:
    """The earliest submitted_at accepted: API_BEFORE_OPENING_DAYS before the intake's opening
    date (a little early is accepted, and "premature"), or API_EARLIEST_SUBMISSION without one."""
    earliest = limits.API_EARLIEST_SUBMISSION
    if policy.opening_date is not None:
        earliest = policy.opening_date - timedelta(days=limits.API_BEFORE_OPENING_DAYS)
    return datetime(earliest.year, earliest.month, earliest.day, tzinfo=policy.zone)


async def submit_application(request: Request):
    """POST /api/applications, added by station/app.py as a plain Starlette route (no
    dependency injection to solve): the portal's import job calls it hundreds of times a second."""
    caller = _require_token(request)
    key = request.headers.get("idempotency-key")
    if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
        raise HttpProblem(400, "Idempotency-Key must be 1 to 128 printable ASCII characters without spaces")
    doc = await _read_json_body(request)
    station = request.app.state.station
    submitted_at = _submitted_at(doc, station.registry.policy)
    data = {"fields": doc.get("fields")}
    # Validated here, before it waits for a transaction: a bad document is refused at once.
    submission = online.prepare(station.registry, data, submitted_at=submitted_at, idempotency_key=key, portal=caller)
    outcome = await station.intake.submit(submission)
    if outcome.error is not None:
        raise outcome.error
    result = outcome.result
    body = result.to_json()
    return JSONResponse(body, status_code=201 if result.created else 200,
                        headers={"Location": f"/api/applications/{result.file_no}"})


@router.get("/applications/{file_no}")
def application_status(file_no: str, request: Request):
    _require_token(request)
    return request.app.state.station.desk.public_status(file_no)
