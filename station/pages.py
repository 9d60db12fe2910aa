"""The staff side of the station: login, the review loop, the queue, applications, history,
images. Every route checks the session and the role on the server; every POST the CSRF
token. Routes stay thin: the work is in station/review.py.
"""

from __future__ import annotations

import math
import pathlib
from datetime import timedelta

from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from errors import InvalidData
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


def _saw(request: Request, staff: Staff, file_no: str, what: str) -> None:
    """Who looked (registry/record_views.py): `staff` was shown `what` of `file_no`."""
    from registry.filenumber import normalize_file_no

    _station(request).views.saw(staff.name, normalize_file_no(file_no), what)


def _saw_card(request: Request, staff: Staff, card: dict | None) -> None:
    if card:
        _saw(request, staff, card["file_no"], f"field:{card['field']}")


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
    station.logins.succeeded(username, address)
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
           reset_postponed: bool = False, after: str | None = None, staff: Staff = Depends(auth.requires("reviewer"))):
    desk = _station(request).desk
    if reset_postponed:
        request.session["postponed"] = []
    if file_no and field:
        card = desk.field_card(staff, file_no, field, return_to=return_to)
    else:
        card = desk.next_card(staff, _postponed(request), same_file=after)
    _saw_card(request, staff, card)
    return render(_station(request).templates, request, "review.html", card=card, nav="review",
                  postponed=len(_postponed(request)))


def _answer_with_next(request: Request, staff: Staff, *, saved: dict | None, message: str, return_to: str = "",
                      file_no: str | None = None):
    """After a save or a postponement: the next field (fetch) or a redirect (plain form);
    the next field of the same file first while one waits."""
    station = _station(request)
    if wants_json(request):
        card = station.desk.next_card(staff, _postponed(request), same_file=file_no)
        _saw_card(request, staff, card)
        html = render_fragment(station.templates, request, "_field_card.html", card=card, postponed=len(_postponed(request)))
        return JSONResponse({"saved": saved, "html": html})
    flash(request, "ok", message)
    if return_to == "app" and saved:
        return RedirectResponse(f"/applications/{quote(saved['file_no'])}#field-{quote(saved['field'])}", status_code=303)
    return RedirectResponse(f"/review?after={quote(file_no)}" if file_no else "/review", status_code=303)


@router.post("/review/save", dependencies=csrf)
def review_save(request: Request, file_no: str = Form(...), field: str = Form(...), value: str = Form(""),
                version: str = Form(""), return_to: str = Form(""), acknowledged: str = Form(""),
                staff: Staff = Depends(auth.requires("reviewer"))):
    station = _station(request)
    outcome = station.desk.save(staff, file_no, field, value, version, acknowledged=acknowledged)
    if outcome.card is not None:
        outcome.card["return_to"] = return_to
        _saw_card(request, staff, outcome.card)
        if wants_json(request):
            html = render_fragment(station.templates, request, "_field_card.html", card=outcome.card)
            kind = "conflict" if outcome.status == 409 else "plausibility warning" if outcome.card.get("warnings") else "invalid value"
            return JSONResponse({"error": kind, "status": outcome.status, "html": html}, status_code=outcome.status)
        return render(station.templates, request, "review.html", status_code=outcome.status, card=outcome.card, nav="review")
    saved = outcome.saved
    if saved.get("held"):  # four eyes: it would move another file (registry/identity_changes.py)
        _remember_pairs(request, "postponed", [[saved["file_no"], saved["field"]]], limits.POSTPONED_MAX)
        message = (f"En attente d'un superviseur · Held for a supervisor: {saved['file_no']} {saved['field']} "
                   f"changerait aussi · would also change {', '.join(saved['affects'])} (#{saved['identity_change']})")
        return _answer_with_next(request, staff, saved={**saved, "message": message}, return_to="", message=message)
    return _answer_with_next(request, staff, saved=saved, return_to=return_to, file_no=saved["file_no"],
                             message=f"Enregistré · Saved: {saved['file_no']} {saved['field']}")


@router.post("/review/postpone", dependencies=csrf)
def review_postpone(request: Request, file_no: str = Form(...), field: str = Form(...),
                    staff: Staff = Depends(auth.requires("reviewer"))):
    _station(request).desk.postpone(staff, file_no, field)
    _remember_pairs(request, "postponed", [[file_no, field]], limits.POSTPONED_MAX)
    return _answer_with_next(request, staff, saved=None, file_no=file_no, message=f"Remis à plus tard · Postponed: {file_no} {field}")


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
    for item in group["fields"]:
        _saw(request, staff, item["file_no"], f"group:{field}")
    return render(station.templates, request, "group.html", nav="groups", group=group)


@router.post("/review/group/confirm", dependencies=csrf)
async def review_group_confirm(request: Request, staff: Staff = Depends(auth.requires("reviewer"))):
    form = await request.form()
    field, value = str(form.get("field", "")), str(form.get("value", ""))
    shown = [tuple(str(item).split(":", 1)) for item in form.getlist("shown") if ":" in str(item)]
    confirmed = {str(file_no) for file_no in form.getlist("confirm")}
    desk = _station(request).desk
    outcome = await run_in_threadpool(desk.confirm_group, staff, field, value, shown, confirmed)
    _remember_pairs(request, "set_aside", [[file_no, field] for file_no in outcome["set_aside"] + outcome["refused"] + outcome["held"]],
                    limits.SET_ASIDE_MAX)
    parts = [f"{len(outcome['saved'])} confirmé(s) · confirmed"]
    if outcome["changed"]:
        parts.append(f"{len(outcome['changed'])} modifié(s) entre-temps, rien écrasé · changed meanwhile, nothing overwritten")
    if outcome["held"]:
        parts.append(f"{len(outcome['held'])} en attente d'un superviseur (changeraient un autre dossier) · held for a "
                     f"supervisor (would change another file): {', '.join(outcome['held'])}")
    if outcome["set_aside"] or outcome["refused"]:
        parts.append(f"{len(outcome['set_aside']) + len(outcome['refused'])} à corriger un par un, maintenant · to correct one by one, now")
    flash(request, "ok", " ; ".join(parts))
    # The unticked fields are still this person's claims: the loop serves them first.
    target = "/review" if outcome["set_aside"] or outcome["refused"] else "/review/groups"
    return RedirectResponse(target, status_code=303)


# ------------------------------------------------------------------ queue, applications


@router.get("/queue")
def queue(request: Request, page: int = Query(1, le=limits.MAX_PAGE_NUMBER), staff: Staff = Depends(auth.requires("clerk"))):
    from registry import review_claims

    page = max(1, page)
    station = _station(request)
    result = review_claims.queue_page(station.registry.db, offset=(page - 1) * limits.QUEUE_PAGE_SIZE,
                                      limit=limits.QUEUE_PAGE_SIZE, with_postmarks=staff.may("supervisor"))
    pages = max(1, -(-result.total_applications // limits.QUEUE_PAGE_SIZE))
    return render(station.templates, request, "queue.html", nav="queue", rows=station.desk.queue_rows(result.rows), page=page, pages=pages,
                  total_apps=result.total_applications, total_fields=result.total_items)


@router.get("/applications/{file_no}")
def application(request: Request, file_no: str, staff: Staff = Depends(auth.requires("clerk"))):
    station = _station(request)
    view = station.desk.application_view(file_no)
    _saw(request, staff, view["file_no"], "application")
    return render(station.templates, request, "application.html", app=view)


@router.post("/applications/{file_no}/postmark", dependencies=csrf)
def change_postmark(request: Request, file_no: str, postmark_date: str = Form(""), illegible: str = Form(""),
                    reason: str = Form(""), staff: Staff = Depends(auth.requires("supervisor"))):
    station = _station(request)
    try:
        result = station.desk.set_postmark(staff, file_no, postmark_date, bool(illegible), reason)
    except InvalidData as exc:
        if wants_json(request):
            raise
        # The page again, the supervisor's typing kept, the refusal beside the form.
        typed = {"postmark_date": postmark_date, "illegible": bool(illegible), "reason": reason, "problems": exc.problems}
        return render(station.templates, request, "application.html", status_code=422,
                      app=station.desk.application_view(file_no), postmark_form=typed)
    if wants_json(request):
        return JSONResponse(result)
    flash(request, "ok", f"Cachet corrigé · Postmark corrected: priorité {result['priority_date']}")
    return RedirectResponse(f"/applications/{quote(file_no)}", status_code=303)


@router.get("/applications/{file_no}/history")
def application_history(request: Request, file_no: str, staff: Staff = Depends(auth.requires("clerk"))):
    from registry.filenumber import normalize_file_no

    station = _station(request)
    events = station.desk.history(file_no=file_no)
    file_no = normalize_file_no(file_no)
    _saw(request, staff, file_no, "history")
    looked = [{"id": None, "at": v["at"].replace("T", " ")[:19], "by": v["actor"], "action": "viewed", "file_no": file_no,
               "field": None, "old": "", "new": v["what"], "reason": ""} for v in station.views.of_file(file_no)]
    events = sorted(events + looked, key=lambda e: e["at"], reverse=True)  # who looked, among who changed what
    return render(station.templates, request, "history.html", nav="history", file_no=file_no, field=None, events=events)


@router.get("/applications/{file_no}/fields/{field}/history")
def field_history(request: Request, file_no: str, field: str, staff: Staff = Depends(auth.requires("clerk"))):
    station = _station(request)
    events = station.desk.history(file_no=file_no, field=field)
    _saw(request, staff, file_no, f"history:{field}")
    return render(station.templates, request, "history.html", nav="history", file_no=file_no, field=field, events=events)


@router.get("/history")
def history(request: Request, before: int | None = Query(None, ge=1, le=limits.MAX_ROW_ID),
            staff: Staff = Depends(auth.requires("clerk"))):
    station = _station(request)
    events = station.desk.history(before_id=before)
    for file_no in dict.fromkeys(e["file_no"] for e in events if e["file_no"]):
        _saw(request, staff, file_no, "history list")
    return render(station.templates, request, "history.html", nav="history", file_no=None, field=None,
                  events=events, page_size=limits.HISTORY_PAGE_SIZE)


@router.get("/audit/views")
def views_by_person(request: Request, user: str = Query("", max_length=64), staff: Staff = Depends(auth.requires("supervisor"))):
    """What a given person looked at (privacy: who consulted which file, when)."""
    from registry import record_views
    station = _station(request)
    views = station.views.by(user.strip()) if user.strip() else []
    return render(station.templates, request, "views.html", nav="views", user=user.strip(), views=views,
                  limit=record_views.LIST_LIMIT)


@router.get("/stats")
def review_stats(request: Request, days: int = 7, staff: Staff = Depends(auth.requires("supervisor"))):
    station = _station(request)
    days = min(max(days, 1), limits.STATS_MAX_DAYS)
    since = station.registry.policy.today() - timedelta(days=days)
    return render(station.templates, request, "stats.html", nav="stats", stats=station.registry.review_stats(since),
                  days=days, since=since, label_of=station.desk.field_label)


# ------------------------------------------------------------------ identity changes


@router.get("/identity-changes")
def identity_changes_page(request: Request, staff: Staff = Depends(auth.requires("supervisor"))):
    from registry import identity_changes

    changes = identity_changes.pending(_station(request).registry.db)
    for change in changes:
        _saw(request, staff, change["file_no"], "identity change")
    return render(_station(request).templates, request, "identity_changes.html", nav="identity", changes=changes)


@router.post("/identity-changes/{change_id}/confirm", dependencies=csrf)
def identity_change_confirm(request: Request, change_id: int = Path(..., ge=1, le=2**31 - 1),
                            staff: Staff = Depends(auth.requires("supervisor"))):
    from registry import identity_changes

    result = identity_changes.confirm(_station(request).registry, change_id, by=staff.name)
    flash(request, "ok", f"Confirmé · Confirmed: {result['file_no']} {result['field']} (#{change_id})")
    return RedirectResponse("/identity-changes", status_code=303)


@router.post("/identity-changes/{change_id}/reject", dependencies=csrf)
def identity_change_reject(request: Request, change_id: int = Path(..., ge=1, le=2**31 - 1), reason: str = Form(""),
                           staff: Staff = Depends(auth.requires("supervisor"))):
    from registry import identity_changes

    identity_changes.reject(_station(request).registry.db, change_id, by=staff.name, reason=reason)
    flash(request, "ok", f"Refusé · Rejected: #{change_id}")
    return RedirectResponse("/identity-changes", status_code=303)


# ------------------------------------------------------------------------------ images


@router.get("/images/{file_no}/fields/{field}.png")
async def field_crop(request: Request, file_no: str, field: str, staff: Staff = Depends(auth.requires("clerk"))):
    png = await run_in_threadpool(_station(request).desk.field_crop, file_no, field)
    _saw(request, staff, file_no, f"crop:{field}")
    return Response(png, media_type="image/png", headers=IMAGE_CACHE)


@router.get("/images/{file_no}/fields/{field}/page.png")
def field_page(request: Request, file_no: str, field: str, staff: Staff = Depends(auth.requires("clerk"))):
    page = _station(request).desk.field_page(file_no, field)
    _saw(request, staff, file_no, f"page of {field}")
    return _png(page)


@router.get("/images/{file_no}/pages/{sequence}.png")
async def page_image(request: Request, file_no: str, sequence: int = Path(..., ge=0, le=limits.MAX_PAGE_SEQUENCE), thumb: bool = False,
                     staff: Staff = Depends(auth.requires("clerk"))):
    desk = _station(request).desk
    stored = desk.page_image(file_no, sequence)
    _saw(request, staff, file_no, f"{'thumbnail' if thumb else 'page'}:{sequence}")
    if thumb:
        png = await run_in_threadpool(desk.images.thumbnail, stored)
        return Response(png, media_type="image/png", headers=IMAGE_CACHE)
    return _png(await run_in_threadpool(desk.images.full, stored))


def _png(image: pathlib.Path | bytes) -> Response:
    """A whole page: a stored PNG served as a file, or a page rendered from its scan."""
    if isinstance(image, bytes):
        return Response(image, media_type="image/png", headers=IMAGE_CACHE)
    return FileResponse(image, media_type="image/png", headers=IMAGE_CACHE)


@router.get("/images/{file_no}/envelope.png")
def envelope_image(request: Request, file_no: str, staff: Staff = Depends(auth.requires("clerk"))):
    desk = _station(request).desk
    envelope = desk.images.full(desk.envelope_image(file_no))
    _saw(request, staff, file_no, "envelope")
    return FileResponse(envelope, headers=IMAGE_CACHE)
