"""The candidates' pages: no login, French first and English, working without JavaScript.

- `GET /forms`: what to do (print, fill in capitals, sign, mail, the documents to enclose, the
  address), the blank form in both languages, and the form to fill on screen;
- `GET /forms/blank.pdf?lang=fr|en`: the blank form;
- `POST /forms/prefill`: the on-screen form, checked by the same validator as every channel;
  valid, the prefilled PDF with its data barcodes (nothing is stored on the server); not
  valid, the form again with each problem beside its field in both languages (422);
- `GET /status`, `POST /status`: did my envelope arrive? (registry/status_lookup.py).

A PDF costs a tenth of a second or more of one core: at most PREFILL_CONCURRENCY are made at
once per process, and a request that would wait longer than PREFILL_MAX_WAIT_S is answered at
once "busy, try again in N s" (503 with Retry-After) rather than left to time out.
`csq serve --public` serves only these pages (station/app.py `create_app(public_only=True)`).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from functools import lru_cache

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from errors import InvalidData
from forms.render import LANGS, blank_pdf_bytes, prefill_pdf_bytes
from registry import status_lookup
from station import limits
from station.http_errors import HttpProblem
from templates.spec import FieldSpec, load_form
from templates.validation import parse_date

router = APIRouter()

DEFAULT_MAILING_ADDRESS = ("Ministère de l'Immigration, de la Francisation et de l'Intégration|"
                           "Programme régulier des travailleurs qualifiés — demandes par la poste|"
                           "285, rue Notre-Dame Ouest|Montréal (Québec)  H2Y 1T8|Canada")

BOOL_TYPES = ("checkbox", "signature")

# Statuses as a candidate reads them (registry/priority.py STATUSES, and the ranking's two).
STATUS_WORDS = {
    "received": ("Reçue : la saisie commence", "Received: being keyed in"),
    "in_review": ("Reçue, en vérification : votre place est réservée", "Received, being verified: your place is reserved"),
    "incomplete": ("Incomplète : la lettre d'accusé de réception dit ce qui manque",
                   "Incomplete: the acknowledgment letter says what is missing"),
    "complete": ("Complète, en attente du classement", "Complete, waiting for the ranking"),
    "ranked": ("Classée, dans le nombre de places", "Ranked, within the places available"),
    "beyond_cap": ("Classée, au-delà du nombre de places", "Ranked, beyond the places available"),
    "duplicate": ("Double d'une autre demande de la même personne", "Duplicate of another application of the same person"),
    "premature": ("Reçue avant l'ouverture : elle vous est retournée", "Received before the opening: it is returned to you"),
    "late": ("Reçue après la clôture", "Received after the closing"),
    "withdrawn": ("Retirée", "Withdrawn"),
}


@dataclass(frozen=True)
class FormSection:
    title_fr: str
    title_en: str
    fields: tuple[FieldSpec, ...]


@lru_cache(maxsize=1)
def form_sections() -> tuple[FormSection, ...]:
    """The form's fields by section, in the paper's order: the screen asks what the paper asks."""
    form = load_form()
    titles: dict[str, str] = {}
    for page in form.pages:
        for item in page.texts:
            if item.bold:
                titles.setdefault(item.text.fr, item.text.en)
    sections: list[FormSection] = []
    for f in form.fields:
        if sections and sections[-1].title_fr == f.section:
            sections[-1] = FormSection(f.section, sections[-1].title_en, sections[-1].fields + (f,))
        else:
            sections.append(FormSection(f.section, titles.get(f.section, f.section), (f,)))
    return tuple(sections)


@lru_cache(maxsize=len(LANGS))
def _blank(lang: str) -> bytes:
    return blank_pdf_bytes(lang=lang)


def document_from_form(form_data) -> tuple[dict, dict[str, str]]:
    """The data document a filled-in page gives (only the form's own names; checkbox and
    signature: present is true), and the values as typed, to show them again."""
    fields: dict = {}
    typed: dict[str, str] = {}
    for f in load_form().fields:
        raw = form_data.get(f.name)
        if f.type in BOOL_TYPES:
            if raw is not None:
                fields[f.name] = True
                typed[f.name] = "on"
            continue
        text = (raw or "").strip() if isinstance(raw, str) else ""
        typed[f.name] = text
        if text:
            fields[f.name] = text
    return {"fields": fields}, typed


class PrefillGate:
    """At most PREFILL_CONCURRENCY PDFs at once; a request that would wait longer than
    PREFILL_MAX_WAIT_S is told to come back (the wait estimated from the PDFs in line and the
    recent time per PDF), so that under a rush every answer comes quickly, PDF or "busy"."""

    def __init__(self) -> None:
        self._slots = threading.BoundedSemaphore(limits.PREFILL_CONCURRENCY)
        self._lock = threading.Lock()
        self._in_line = 0
        self._seconds_per_pdf = limits.PREFILL_ESTIMATE_S

    def wait_estimate_s(self) -> float:
        with self._lock:
            return self._in_line * self._seconds_per_pdf / limits.PREFILL_CONCURRENCY

    def admit(self) -> bool:
        with self._lock:
            if self._in_line * self._seconds_per_pdf / limits.PREFILL_CONCURRENCY > limits.PREFILL_MAX_WAIT_S:
                return False
            self._in_line += 1
            return True

    def run(self, make):
        """Make one PDF within a slot (admit() first); in a worker thread."""
        try:
            with self._slots:
                started = time.perf_counter()
                result = make()
                took = time.perf_counter() - started
            with self._lock:  # a moving average: the estimate follows the machine's load
                self._seconds_per_pdf = 0.8 * self._seconds_per_pdf + 0.2 * took
            return result
        finally:
            with self._lock:
                self._in_line -= 1


class LookupThrottle:
    """Status look-ups per client address: STATUS_LOOKUPS_PER_WINDOW within STATUS_WINDOW_S,
    then a wait until the oldest leaves the window. In memory, per process."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_s(self, address: str) -> float:
        """Seconds before this address may look up again; 0 counts this look-up."""
        now = self._clock()
        most = limits.STATUS_LOOKUPS_PER_WINDOW
        with self._lock:
            if len(self._seen) > limits.STATUS_THROTTLE_MAX_KEYS:  # bounded memory under a flood
                for key in [k for k, q in self._seen.items() if not q or q[-1] <= now - limits.STATUS_WINDOW_S]:
                    del self._seen[key]
            seen = self._seen.setdefault(address, deque(maxlen=most))
            while seen and seen[0] <= now - limits.STATUS_WINDOW_S:
                seen.popleft()
            if len(seen) >= most:
                return seen[0] + limits.STATUS_WINDOW_S - now
            seen.append(now)
            return 0.0


def _env(request: Request):
    return request.app.state.templates


def mailing_address() -> list[str]:
    """Where candidates mail their envelope: CSQ_MAILING_ADDRESS (lines separated by '|'),
    set by the ministry for its intake; the default is the program's published address."""
    text = os.environ.get("CSQ_MAILING_ADDRESS") or DEFAULT_MAILING_ADDRESS
    return [line.strip() for line in text.split("|") if line.strip()]


def _page(request: Request, template: str, *, status_code: int = 200, headers: dict | None = None, **context) -> HTMLResponse:
    lang = "en" if request.query_params.get("lang") == "en" else "fr"
    html = _env(request).get_template(template).render(lang=lang, sections=form_sections(), mailing_address=mailing_address(),
                                                        **context)
    return HTMLResponse(html, status_code=status_code, headers=headers)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/forms")
def forms_page(request: Request):
    return _page(request, "public_forms.html", values={}, problems={}, summary=[])


@router.get("/forms/blank.pdf")
async def blank_form(lang: str = "fr"):
    if lang not in LANGS:
        lang = "fr"
    data = await run_in_threadpool(_blank, lang)
    return Response(data, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="csq-formulaire-{lang}.pdf"', "Cache-Control": "public, max-age=3600"})


async def _form_fields(request: Request):
    """The posted fields of a plain HTML form; anything else (multipart, JSON) is refused:
    these pages never take files."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise HttpProblem(415, "Envoyez le formulaire de la page. · Send the page's form.")
    return await request.form()


@router.post("/forms/prefill")
async def prefill(request: Request):
    form_data = await _form_fields(request)
    doc, typed = document_from_form(form_data)
    lang = form_data.get("pdf_lang") if form_data.get("pdf_lang") in LANGS else "fr"
    gate: PrefillGate = request.app.state.prefill_gate
    if not gate.admit():  # the form comes back with the answers kept: one click to try again
        seconds = max(1, math.ceil(gate.wait_estimate_s()))
        return _page(request, "public_forms.html", status_code=503, headers={"Retry-After": str(seconds)}, values=typed,
                     problems={}, summary=[], pdf_lang=lang, busy=seconds)
    try:
        pdf = await run_in_threadpool(gate.run, lambda: prefill_pdf_bytes(doc, lang=lang))
    except InvalidData as exc:
        problems: dict[str, list] = {}
        for p in exc.problems:
            problems.setdefault(p.field, []).append(p.message)
        return _page(request, "public_forms.html", status_code=422, values=typed, problems=problems, summary=exc.problems,
                     pdf_lang=lang)
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": 'attachment; filename="csq-demande-preremplie.pdf"', "Cache-Control": "no-store"})


@router.get("/status")
def status_page(request: Request):
    return _page(request, "public_status.html", asked=False, found=[], values={}, status_words=STATUS_WORDS)


@router.post("/status")
async def status_lookup_route(request: Request):
    form_data = await _form_fields(request)
    values = {k: (form_data.get(k) or "").strip() for k in ("file_no", "passport_number", "birth_date")}
    wait = request.app.state.lookup_throttle.wait_s(_client(request))
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        return _page(request, "public_status.html", status_code=429, headers={"Retry-After": str(seconds)}, asked=False,
                     found=[], values=values, status_words=STATUS_WORDS, wait_s=seconds)
    birth = values["birth_date"]
    if len(birth) == 8 and birth.isdigit():
        birth = f"{birth[:4]}-{birth[4:6]}-{birth[6:]}"
    found = []
    if parse_date(birth) and (values["file_no"] or values["passport_number"]):
        found = await run_in_threadpool(
            status_lookup.look_up, request.app.state.public_registry_db, birth_date=birth,
            file_no=values["file_no"] or None, passport_number=None if values["file_no"] else values["passport_number"])
    return _page(request, "public_status.html", asked=True, found=found, values=values, status_words=STATUS_WORDS,
                 incomplete_query=not (parse_date(birth) and (values["file_no"] or values["passport_number"])))


def install(app, registry, templates) -> None:
    """The candidates' pages on `app`, over `registry`'s database."""
    app.state.templates = templates
    app.state.prefill_gate = PrefillGate()
    app.state.lookup_throttle = LookupThrottle()
    app.state.public_registry_db = registry.db
    app.include_router(router)

