"""The candidates' pages under a rush: `csq bench public [--clients 500] [--requests N]`.

uvicorn serves the public pages alone (`csq serve --public`, `workers` processes) on
127.0.0.1; `clients` concurrent connections each post the on-screen form (the sample
document, form-encoded) and read the whole answer: the prefilled PDF (200) or "busy, try again
in N s" (503 with Retry-After, the answers kept). Reported: PDFs per second, latency p50/p99 of
the PDFs and of every answer, how many were told to come back, and any failure (a refused
connection, a time-out, another status: none is expected). Bounded in count and time; nothing
leaves the loopback interface. A benchmark, not a timed test.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from station import limits
from bench.live import free_port
from bench.station import percentile, process_tree_cpu_s, start_server
from samples.readings import sample_document


def form_body() -> bytes:
    fields = sample_document()["fields"]
    return urlencode({k: ("on" if v is True else v) for k, v in fields.items() if v is not False}).encode()


async def post_form(host: str, port: int, body: bytes, timeout_s: float) -> tuple[int, int, str | None]:
    """One POST /forms/prefill on its own connection: (status, body bytes, Retry-After)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    try:
        writer.write((f"POST /forms/prefill HTTP/1.1\r\nHost: {host}:{port}\r\n"
                      f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
                      f"Connection: close\r\n\r\n").encode() + body)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout_s)
    finally:
        writer.close()
    head, _, payload = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    retry = next((line.split(":", 1)[1].strip() for line in lines[1:] if line.lower().startswith("retry-after:")), None)
    return status, len(payload), retry


async def rush(host: str, port: int, clients: int, requests: int, time_limit_s: float, timeout_s: float) -> dict:
    body = form_body()
    todo = iter(range(requests))
    answers: list[tuple[int, float, int, str | None]] = []
    failures: dict[str, int] = {}
    deadline = time.monotonic() + time_limit_s

    async def client() -> None:
        for _ in todo:
            if time.monotonic() > deadline:
                return
            t0 = time.perf_counter()
            try:
                status, size, retry = await post_form(host, port, body, timeout_s)
            except (OSError, asyncio.TimeoutError, IndexError, ValueError) as exc:
                failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
                continue
            answers.append((status, time.perf_counter() - t0, size, retry))

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return {"answers": answers, "failures": failures, "elapsed_s": time.perf_counter() - t0}


def _ms(values: list[float]) -> dict:
    ms = [v * 1000 for v in values]
    return {"n": len(ms), "p50_ms": round(percentile(ms, 50), 1) if ms else None,
            "p99_ms": round(percentile(ms, 99), 1) if ms else None, "max_ms": round(max(ms), 1) if ms else None}


def bench_public(clients: int = 500, requests: int | None = None, *, workers: int = 2, time_limit_s: float = 600,
                 timeout_s: float = 120, workdir: Path | None = None) -> dict:
    requests = clients if requests is None else requests
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        port = free_port()
        server = start_server(f"sqlite:///{tmp}/registry.db", Path(tmp) / "data", port, workers,
                              factory="station.app:public_app_from_env")
        try:
            cpu0 = process_tree_cpu_s(server.pid)
            run = asyncio.run(rush("127.0.0.1", port, clients, requests, time_limit_s, timeout_s))
            server_cpu = process_tree_cpu_s(server.pid) - cpu0
        finally:
            server.terminate()
            server.wait(timeout=30)
    answers = run["answers"]
    pdfs = [a for a in answers if a[0] == 200]
    busy = [a for a in answers if a[0] == 503]
    other = {}
    for status, *_ in answers:
        if status not in (200, 503):
            other[f"http_{status}"] = other.get(f"http_{status}", 0) + 1
    return {
        "clients": clients, "requests": requests, "workers": workers, "elapsed_s": round(run["elapsed_s"], 2),
        "pdfs": len(pdfs), "pdfs_per_s": round(len(pdfs) / run["elapsed_s"], 1) if run["elapsed_s"] else None,
        "pdf_latency": _ms([a[1] for a in pdfs]), "all_latency": _ms([a[1] for a in answers]),
        "busy": len(busy), "busy_retry_after_s": sorted({int(a[3]) for a in busy if a[3]})[:10],
        "busy_latency": _ms([a[1] for a in busy]),
        "failures": {**run["failures"], **other},
        "server_cpu_s_per_pdf": round(server_cpu / len(pdfs), 3) if pdfs else None,
        "pdf_bytes_mean": round(sum(a[2] for a in pdfs) / len(pdfs)) if pdfs else None,
        "limits": {"concurrency_per_worker": limits.PREFILL_CONCURRENCY, "max_wait_s": limits.PREFILL_MAX_WAIT_S},
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "ok": not run["failures"] and not other and len(pdfs) + len(busy) == len(answers) == requests,
    }
