"""The staff side of the station: login, the review loop, the queue, applications, history,
images. Every route checks the session and the role on the server; every POST the CSRF
token. Routes stay thin: the work is in station/review.py.
"""

from __future__ import annotations

import math
from pathlib import Path
from datetime import timedelta

from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from station import auth, limits
from station.auth import Staff
from station.http_errors import wants_json
from station.rendering import flash, render, render_fragment

router = APIRouter()
csrf = [Depends(auth.check_csrf)]
IMAGE_CACHE = {"Cache-Control": "private, max-age=86400"}  # stored images never change: content-addressed


def _station(request: Request):
    return request.app.state.station


def _safe_next(target: str | None) -> str:
    """Only a path on this site: a crafted ?next= must not send a person elsewhere."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _session_pairs(request: Request, key: str) -> list[tuple[str, str]]:
    """(file number, field) pairs this session keeps under `key`: 'postponed' (Tab in the loop)
    or 'set_aside' (unticked in a group)."""
    return [tuple(pair) for pair in request.session.get(key, [])]


def _remember_pairs(request: Request, key: str, pairs: list[list[str]], cap: int) -> None:
    """Add `pairs` to the session's list under `key`, newest last, capped for the cookie's size."""
    kept = [p for p in request.session.get(key, []) if p not in pairs]
    request.session[key] = (kept + pairs)[-cap:]


def _postponed(request: Request) -> list[tuple[str, str]]:
    return _session_pairs(request, "postponed")


def _set_aside(request: Request) -> list[tuple[str, str]]:
    return _session_pairs(request, "set_aside")


# ----------------------------------------------------------------------------- login


@router.get("/")
def home(request: Request):
    staff = auth.current_staff(request)
    return RedirectResponse("/review" if staff.may("reviewer") else "/queue", status_code=303)


@router.get("/login")
def login_page(request: Request, next: str = "/"):
    return render(_station(request).templates, request, "login.html", next_url=_safe_next(next), error=None, username=None)


@router.post("/login", dependencies=csrf)
def login(request: Request, username: str = Form(""), password: str = Form(""), next: str = Form("/")):
    station = _station(request)
    address = request.client.host if request.client else None
    wait = station.logins.wait_s(username, address)
    if wait > 0:
        minutes = max(1, math.ceil(wait / 60))
        page = render(station.templates, request, "login.html", status_code=429, next_url=_safe_next(next), username=username,
                      error=f"Trop d'essais manqués : réessayez dans {minutes} min. · Too many failed attempts: try again in {minutes} min.")
        page.headers["Retry-After"] = str(math.ceil(wait))
        return page
    account = station.registry.verify_user(username, password)
    if account is None:
        station.logins.failed(username, address)
        return render(station.templates, request, "login.html", status_code=401, next_url=_safe_next(next),
                      username=username, error="Nom ou mot de passe incorrect. · Wrong name or password.")
    station.logins.succeeded(username)
    auth.log_in(request, account)
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout", dependencies=csrf)
def logout(request: Request):
    auth.log_out(request)
    return RedirectResponse("/login", status_code=303)


@router.get("/healthz")
def health():
    return {"ok": True}


# ------------------------------------------------------------------------- the loop


@router.get("/review")
def review(request: Request, file_no: str | None = None, field: str | None = None, return_to: str = "",
           reset_postponed: bool = False, staff: Staff = Depends(auth.requires("reviewer"))):
    desk = _station(request).desk
    if reset_postponed:
        request.session["postponed"] = []
    if file_no and field:
        card = desk.field_card(staff, file_no, field, return_to=return_to)
    else:
        card = desk.next_card(staff, _postponed(request))
    return render(_station(request).templates, request, "review.html", card=card, nav="review",
                  postponed=len(_postponed(request)))


def _answer_with_next(request: Request, staff: Staff, *, saved: dict | None, message: str, return_to: str = ""):
    """After a save or a postponement: the next field (fetch) or a redirect (plain form)."""
    station = _station(request)
    if wants_json(request):
        card = station.desk.next_card(staff, _postponed(request))
        html = render_fragment(station.templates, request, "_field_card.html", card=card, postponed=len(_postponed(request)))
        return JSONResponse({"saved": saved, "html": html})
    flash(request, "ok", message)
    if return_to == "app" and saved:
        return RedirectResponse(f"/applications/{quote(saved['file_no'])}#field-{quote(saved['field'])}", status_code=303)
    return RedirectResponse("/review", status_code=303)


@router.post("/review/save", dependencies=csrf)
def review_save(request: Request, file_no: str = Form(...), field: str = Form(...), value: str = Form(""),
                version: str = Form(""), return_to: str = Form(""), staff: Staff = Depends(auth.requires("reviewer"))):
    station = _station(request)
    outcome = station.desk.save(staff, file_no, field, value, version)
    if outcome.card is not None:
        outcome.card["return_to"] = return_to
        if wants_json(request):
            html = render_fragment(station.templates, request, "_field_card.html", card=outcome.card)
            kind = "conflict" if outcome.status == 409 else "invalid value"
            return JSONResponse({"error": kind, "status": outcome.status, "html": html}, status_code=outcome.status)
        return render(station.templates, request, "review.html", status_code=outcome.status, card=outcome.card, nav="review")
    saved = outcome.saved
    return _answer_with_next(request, staff, saved=saved, return_to=return_to,
                             message=f"Enregistré · Saved: {saved['file_no']} {saved['field']}")


@router.post("/review/postpone", dependencies=csrf)
def review_postpone(request: Request, file_no: str = Form(...), field: str = Form(...),
                    staff: Staff = Depends(auth.requires("reviewer"))):
    _station(request).desk.postpone(staff, file_no, field)
    _remember_pairs(request, "postponed", [[file_no, field]], limits.POSTPONED_MAX)
    return _answer_with_next(request, staff, saved=None, message=f"Remis à plus tard · Postponed: {file_no} {field}")


# ------------------------------------------------------------------ group verification


@router.get("/review/groups")
def review_groups(request: Request, staff: Staff = Depends(auth.requires("reviewer"))):
    station = _station(request)
    return render(station.templates, request, "groups.html", nav="groups",
                  groups=station.desk.groups(staff, _set_aside(request)))


@router.get("/review/group")
def review_group(request: Request, field: str, value: str, staff: Staff = Depends(auth.requires("reviewer"))):
    station = _station(request)
    group = station.desk.group(staff, field, value, _set_aside(request))
    if not group["fields"]:
        flash(request, "ok", "Ce groupe est déjà vérifié. · This group is already checked.")
        return RedirectResponse("/review/groups", status_code=303)
    return render(station.templates, request, "group.html", nav="groups", group=group)


@router.post("/review/group/confirm", dependencies=csrf)
async def review_group_confirm(request: Request, staff: Staff = Depends(auth.requires("reviewer"))):
    form = await request.form()
    field, value = str(form.get("field", "")), str(form.get("value", ""))
    shown = [tuple(str(item).split(":", 1)) for item in form.getlist("shown") if ":" in str(item)]
    confirmed = {str(file_no) for file_no in form.getlist("confirm")}
    desk = _station(request).desk
    outcome = await run_in_threadpool(desk.confirm_group, staff, field, value, shown, confirmed)
    _remember_pairs(request, "set_aside", [[file_no, field] for file_no in outcome["set_aside"] + outcome["refused"]],
                    limits.SET_ASIDE_MAX)
    parts = [f"{len(outcome['saved'])} confirmé(s) · confirmed"]
    if outcome["changed"]:
        parts.append(f"{len(outcome['changed'])} modifié(s) entre-temps, rien écrasé · changed meanwhile, nothing overwritten")
    if outcome["set_aside"] or outcome["refused"]:
        parts.append(f"{len(outcome['set_aside']) + len(outcome['refused'])} à corriger un par un, maintenant · to correct one by one, now")
    flash(request, "ok", " ; ".join(parts))
    # The unticked fields are still this person's claims: the loop serves them first.
    target = "/review" if outcome["set_aside"] or outcome["refused"] else "/review/groups"
    return RedirectResponse(target, status_code=303)


# ------------------------------------------------------------------ queue, applications


@router.get("/queue")
def queue(request: Request, page: int = 1, staff: Staff = Depends(auth.requires("clerk"))):
    from registry import review_claims

    page = max(1, page)
    station = _station(request)
    result = review_claims.queue_page(station.registry.db, offset=(page - 1) * limits.QUEUE_PAGE_SIZE,
                                      limit=limits.QUEUE_PAGE_SIZE)
    pages = max(1, -(-result.total_applications // limits.QUEUE_PAGE_SIZE))
    return render(station.templates, request, "queue.html", nav="queue", rows=result.rows, page=page, pages=pages,
                  total_apps=result.total_applications, total_fields=result.total_items)


@router.get("/applications/{file_no}")
def application(request: Request, file_no: str, staff: Staff = Depends(auth.requires("clerk"))):
    station = _station(request)
    return render(station.templates, request, "application.html", app=station.desk.application_view(file_no))


@router.post("/applications/{file_no}/postmark", dependencies=csrf)
def change_postmark(request: Request, file_no: str, postmark_date: str = Form(""), illegible: str = Form(""),
                    reason: str = Form(""), staff: Staff = Depends(auth.requires("supervisor"))):
    result = _station(request).desk.set_postmark(staff, file_no, postmark_date, bool(illegible), reason)
    if wants_json(request):
        return JSONResponse(result)
    flash(request, "ok", f"Cachet corrigé · Postmark corrected: priorité {result['priority_date']}")
    return RedirectResponse(f"/applications/{quote(file_no)}", status_code=303)


@router.get("/applications/{file_no}/history")
def application_history(request: Request, file_no: str, staff: Staff = Depends(auth.requires("clerk"))):
    station = _station(request)
    return render(station.templates, request, "history.html", nav="history", file_no=file_no, field=None,
                  events=station.desk.history(file_no=file_no))


@router.get("/applications/{file_no}/fields/{field}/history")
def field_history(request: Request, file_no: str, field: str, staff: Staff = Depends(auth.requires("clerk"))):
    station = _station(request)
    return render(station.templates, request, "history.html", nav="history", file_no=file_no, field=field,
                  events=station.desk.history(file_no=file_no, field=field))


@router.get("/history")
def history(request: Request, before: int | None = None, staff: Staff = Depends(auth.requires("clerk"))):
    station = _station(request)
    return render(station.templates, request, "history.html", nav="history", file_no=None, field=None,
                  events=station.desk.history(before_id=before), page_size=limits.HISTORY_PAGE_SIZE)


@router.get("/stats")
def review_stats(request: Request, days: int = 7, staff: Staff = Depends(auth.requires("supervisor"))):
    station = _station(request)
    days = min(max(days, 1), limits.STATS_MAX_DAYS)
    since = station.registry.policy.today() - timedelta(days=days)
    return render(station.templates, request, "stats.html", nav="stats", stats=station.registry.review_stats(since),
                  days=days, since=since)


# ------------------------------------------------------------------------------ images


@router.get("/images/{file_no}/fields/{field}.png")
async def field_crop(request: Request, file_no: str, field: str, staff: Staff = Depends(auth.requires("clerk"))):
    png = await run_in_threadpool(_station(request).desk.field_crop, file_no, field)
    return Response(png, media_type="image/png", headers=IMAGE_CACHE)


@router.get("/images/{file_no}/fields/{field}/page.png")
def field_page(request: Request, file_no: str, field: str, staff: Staff = Depends(auth.requires("clerk"))):
    return _png(_station(request).desk.field_page(file_no, field))


@router.get("/images/{file_no}/pages/{sequence}.png")
async def page_image(request: Request, file_no: str, sequence: int, thumb: bool = False,
                     staff: Staff = Depends(auth.requires("clerk"))):
    desk = _station(request).desk
    stored = desk.page_image(file_no, sequence)
    if thumb:
        png = await run_in_threadpool(desk.images.thumbnail, stored)
        return Response(png, media_type="image/png", headers=IMAGE_CACHE)
    return _png(await run_in_threadpool(desk.images.full, stored))


def _png(image: Path | bytes) -> Response:
    """A whole page: a stored PNG served as a file, or a page rendered from its scan."""
    if isinstance(image, bytes):
        return Response(image, media_type="image/png", headers=IMAGE_CACHE)
    return FileResponse(image, media_type="image/png", headers=IMAGE_CACHE)


@router.get("/images/{file_no}/envelope.png")
def envelope_image(request: Request, file_no: str, staff: Staff = Depends(auth.requires("clerk"))):
    desk = _station(request).desk
    return FileResponse(desk.images.full(desk.envelope_image(file_no)), headers=IMAGE_CACHE)
