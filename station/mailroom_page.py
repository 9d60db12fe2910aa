"""The clerk's day (`GET /mailroom`, every staff role): today's scanned files and stacks, the
envelopes and pages registered, the problems to act on, the letters to print, and the rescan
queue (registry/mailroom_day.py). `?day=YYYY-MM-DD` shows another day."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from registry import mailroom_day
from station import auth
from station.auth import Staff
from station.http_errors import HttpProblem
from station.rendering import render

router = APIRouter()


@router.get("/mailroom")
async def mailroom(request: Request, day: str | None = None, staff: Staff = Depends(auth.requires("clerk"))):
    station = request.app.state.station
    try:
        shown = date.fromisoformat(day) if day else station.registry.policy.today()
    except ValueError:
        raise HttpProblem(400, f"day={day!r} : écrivez AAAA-MM-JJ · write YYYY-MM-DD") from None
    report = await run_in_threadpool(mailroom_day.day_report, station.registry, shown)
    rescans = await run_in_threadpool(mailroom_day.rescan_queue, station.registry.db)
    return render(station.templates, request, "mailroom.html", nav="mailroom", report=report, rescans=rescans,
                  today=station.registry.policy.today().isoformat())
