"""Figures of the station: `python -m bench.station [review|api|all] [--quick]`.

A benchmark, not a timed test: it prints what it measured and returns it as a dict.

- review: with BENCH_REVIEW_PENDING_FIELDS fields waiting, the latency of the review page
  (GET /review, claim included) and of the keyboard loop's save-and-next (POST with
  fetch), p50/p99 over BENCH_REVIEW_REQUESTS requests, in process.
- api: online submissions against uvicorn on 127.0.0.1 (a subprocess, `workers` worker
  processes) from `clients` concurrent connections, each submission with its own
  Idempotency-Key and retried with it on a transport error; then the registry is checked:
  none lost, none duplicated, and a replayed key returns the same file. Bounded in count
  and in time. Nothing leaves the loopback interface.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from bench import live
from samples import readings
from station import limits

# The fields read with doubt on each benchmark envelope: ten per envelope, birth_date among
# them so that no two benchmark envelopes are linked as the same person.
BENCH_DOUBTS = ("family_name", "given_names", "birth_date", "sex", "country_of_birth", "citizenship",
                "passport_number", "passport_expiry", "city", "postal_code")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(latencies_s: list[float]) -> dict:
    ms = [v * 1000 for v in latencies_s]
    return {"n": len(ms), "p50_ms": round(percentile(ms, 50), 2), "p99_ms": round(percentile(ms, 99), 2),
            "max_ms": round(max(ms), 2) if ms else None, "mean_ms": round(statistics.fmean(ms), 2) if ms else None}


# ------------------------------------------------------------------------------ review


def fill_review_queue(registry, pending_fields: int) -> int:
    """Register mail envelopes until `pending_fields` fields wait for a person."""
    truth = readings.sample_document()["fields"]
    pages = readings.filled_pages_png(truth)
    doubts = {name: truth[name] for name in BENCH_DOUBTS}
    envelopes = -(-pending_fields // len(doubts))
    start = date(2026, 10, 1)
    for serial in range(envelopes):
        reading = readings.envelope_reading(10_000 + serial, doubtful=doubts, pages_png=pages, truth=truth)
        day = start + timedelta(days=serial % 20)
        registry.register_mail(reading, postmark=day, received=day + timedelta(days=3))
    return envelopes * len(doubts)


def bench_review(pending_fields: int = limits.BENCH_REVIEW_PENDING_FIELDS, requests: int = limits.BENCH_REVIEW_REQUESTS,
                 *, workdir: Path | None = None) -> dict:
    from fastapi.testclient import TestClient

    from registry import review_claims
    from station.app import create_app

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        app = create_app(f"sqlite:///{tmp}/registry.db", Path(tmp) / "data")
        registry = app.state.station.registry
        readings.add_staff(registry)
        started = time.perf_counter()
        fill_review_queue(registry, pending_fields)
        build_s = time.perf_counter() - started
        waiting = review_claims.pending_count(registry.db)
        client = TestClient(app)
        token = live.login_csrf(client, "remi")

        page_times = []
        for _ in range(requests):
            t0 = time.perf_counter()
            r = client.get("/review")
            page_times.append(time.perf_counter() - t0)
            assert r.status_code == 200 and "field-card" in r.text

        loop_times = []
        html = client.get("/review").text
        for _ in range(requests):
            card = live.current_card(html)
            t0 = time.perf_counter()
            r = client.post("/review/save", data={**card, "csrf_token": token},
                            headers={"Accept": "application/json", "X-CSRF-Token": token})
            loop_times.append(time.perf_counter() - t0)
            assert r.status_code == 200, r.text
            html = r.json()["html"]

        crop_times = []
        for item in registry.review_list()[:requests]:
            t0 = time.perf_counter()
            r = client.get(f"/images/{item['file_no']}/fields/{item['field']}.png")
            crop_times.append(time.perf_counter() - t0)
        registry.close()
    result = {
        "pending_fields": waiting, "build_s": round(build_s, 1),
        "review_page": summary(page_times), "save_and_next": summary(loop_times), "crop_first_view": summary(crop_times),
        "target_p99_ms": limits.BENCH_REVIEW_P99_TARGET_MS,
    }
    return result


# --------------------------------------------------------------------------------- API


async def post_once(host: str, port: int, body: bytes, key: str, timeout_s: float,
                    content_type: str = "application/json") -> tuple[int, dict]:
    """One HTTP/1.1 POST on its own connection, written by hand: a client that costs little
    CPU, so that the server, not the client, is what is measured on a shared machine."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    try:
        head = (f"POST /api/applications HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
                f"Idempotency-Key: {key}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        writer.write(head + body)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout_s)
    finally:
        writer.close()
    status_line, _, rest = raw.partition(b"\r\n")
    status = int(status_line.split()[1])
    payload = rest.partition(b"\r\n\r\n")[2]
    try:
        return status, json.loads(payload) if payload else {}
    except ValueError:
        return status, {}


def _document(i: int) -> bytes:
    doc = readings.sample_document()
    doc["fields"]["passport_number"] = f"BQ{i:07d}"  # one person each: no duplicate linking
    return json.dumps(doc).encode()


async def run_clients(host: str, port: int, submissions: int, clients: int, time_limit_s: float, timeout_s: float) -> dict:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(submissions):
        queue.put_nowait(i)
    results: dict[str, tuple[int, str | None]] = {}
    latencies: list[float] = []
    errors: dict[str, int] = {}
    deadline = time.monotonic() + time_limit_s

    async def client() -> None:
        while time.monotonic() < deadline:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            key, body = f"bench-{i}", _document(i)
            for _attempt in range(3):  # a retry carries the same key: it can never make a second file
                t0 = time.perf_counter()
                try:
                    status, payload = await post_once(host, port, body, key, timeout_s)
                except (OSError, asyncio.TimeoutError, IndexError, ValueError) as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    continue
                latencies.append(time.perf_counter() - t0)
                results[key] = (status, payload.get("file_no"))
                if status in (200, 201):
                    break
                errors[f"http_{status}"] = errors.get(f"http_{status}", 0) + 1

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - t0
    return {"results": results, "latencies": latencies, "errors": errors, "elapsed_s": elapsed}


async def http_path_rate(host: str, port: int, count: int, concurrency: int) -> float:
    """Requests per second through the same HTTP path (uvicorn, middleware, API checks) when
    the registry is not called: each one is refused 415 before it. What the station itself
    can carry, apart from the registry's write."""
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> int:
        async with gate:
            return (await post_once(host, port, b"{}", f"probe-{i}", 60, content_type="text/plain"))[0]

    t0 = time.perf_counter()
    statuses = await asyncio.gather(*(one(i) for i in range(count)))
    assert set(statuses) == {415}, set(statuses)
    return count / (time.perf_counter() - t0)


def start_server(db_url: str, data_dir: Path, port: int, workers: int, *, factory: str = "station.app:app_from_env") -> subprocess.Popen:
    env = {**os.environ, "CSQ_DATABASE_URL": db_url, "CSQ_DATA_DIR": str(data_dir)}
    cmd = [sys.executable, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1",
           "--port", str(port), "--workers", str(workers), "--log-level", "warning", "--backlog", "4096",
           "--no-access-log"]
    server = subprocess.Popen(cmd, env=env, cwd=str(Path(__file__).resolve().parent.parent))
    deadline = time.monotonic() + 60
    import urllib.request

    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return server
        except OSError:
            time.sleep(0.2)
        if server.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {server.returncode}")
    server.terminate()
    raise RuntimeError("uvicorn did not answer /healthz within 60 s")


def process_tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children so far, from Linux /proc;
    0.0 where /proc cannot tell. On a shared machine the rate follows the other programs'
    load; the CPU each submission costs does much less."""
    tick = os.sysconf("SC_CLK_TCK")
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    total = 0.0
    for one in [str(pid), *children]:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def bench_api(clients: int = limits.BENCH_API_CLIENTS, submissions: int | None = None, *, workers: int = 2,
              time_limit_s: float = 600, timeout_s: float = 300, workdir: Path | None = None, db_url: str | None = None) -> dict:
    """`submissions` (default: one per client) from `clients` concurrent connections, into a
    fresh SQLite registry, or into `db_url` (an EMPTY database: the checks count its files)."""
    from registry.service import Registry

    submissions = clients if submissions is None else submissions
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        db_url, data_dir = db_url or f"sqlite:///{tmp}/registry.db", Path(tmp) / "data"
        Registry.open(db_url, data_dir).close()  # migrate once, before the workers race to
        port = live.free_port()
        server = start_server(db_url, data_dir, port, workers)
        try:
            http_path_per_s = asyncio.run(http_path_rate("127.0.0.1", port, max(500, min(submissions, 3000)), 200))
            server_cpu, client_cpu = process_tree_cpu_s(server.pid), time.process_time()
            run = asyncio.run(run_clients("127.0.0.1", port, submissions, clients, time_limit_s, timeout_s))
            server_cpu, client_cpu = process_tree_cpu_s(server.pid) - server_cpu, time.process_time() - client_cpu
            replays, replay_keys = replay_some(port, run, timeout_s)
        finally:
            server.terminate()
            server.wait(timeout=30)
        online = registry_files(db_url, data_dir)["online"]
    return {
        "database": db_url.split(":", 1)[0], "clients": clients, "workers": workers, "submissions_sent": submissions,
        **online_accounting(run, online, replays, replay_keys),
        "http_path_without_registry_per_s": round(http_path_per_s, 1),
        # What each submission cost the server (all its workers) and this client, in CPU.
        "server_cpu_ms_per_submission": round(1000 * server_cpu / max(submissions, 1), 2),
        "client_cpu_ms_per_submission": round(1000 * client_cpu / max(submissions, 1), 2),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "target_per_s": limits.BENCH_API_TARGET_PER_S,
    }


def online_accounting(run: dict, online_file_nos: list[str], replays: dict[str, str | None], replayed: list[str]) -> dict:
    """What the clients were told (`run`, from run_clients) against what the registry holds
    (the file numbers of its online applications, in an otherwise empty registry): every
    accepted Idempotency-Key has exactly one file, and no file exists that no key was given."""
    accepted = {k: fn for k, (status, fn) in run["results"].items() if status in (200, 201)}
    lost = set(accepted.values()) - set(online_file_nos)
    per_s = len(accepted) / run["elapsed_s"] if run["elapsed_s"] else 0.0
    return {
        "accepted": len(accepted), "elapsed_s": round(run["elapsed_s"], 1), "per_s": round(per_s, 1),
        "latency": summary(run["latencies"]), "errors": run["errors"], "registry_online_files": len(online_file_nos),
        "lost": len(lost), "duplicated": len(online_file_nos) - len(set(accepted.values())),
        "distinct_files_for_distinct_keys": len(set(accepted.values())) == len(accepted),
        "replayed_keys_same_file": all(replays.get(k) == accepted[k] for k in replayed),
    }


def registry_files(db_url: str, data_dir: Path) -> dict[str, list[str]]:
    """The file numbers a registry holds, by channel (opening it migrates it)."""
    from registry.service import Registry

    out: dict[str, list[str]] = {"online": [], "mail": []}
    with Registry.open(db_url, data_dir) as registry:
        for row in registry.export_rows():
            out[row["channel"]].append(row["file_no"])
    return out


def replay_some(port: int, run: dict, timeout_s: float, count: int = 20) -> tuple[dict[str, str | None], list[str]]:
    """The first `count` accepted submissions of `run` sent again with their keys: (what each
    replay was answered, the keys replayed)."""
    keys = [k for k, (status, _) in list(run["results"].items())[:count] if status in (200, 201)]
    return asyncio.run(replay(port, keys, timeout_s)), keys


async def replay(port: int, keys: list[str], timeout_s: float) -> dict[str, str | None]:
    out = {}
    for key in keys:
        status, payload = await post_once("127.0.0.1", port, _document(int(key.split("-")[1])), key, timeout_s)
        out[key] = payload.get("file_no") if status == 200 else None
    return out


def bench_station(*, review: bool = True, api: bool = True, quick: bool = False) -> dict:
    """Every figure of the station; `quick` scales the counts down for a smoke run."""
    out = {}
    if review:
        out["review"] = bench_review(1_000 if quick else limits.BENCH_REVIEW_PENDING_FIELDS,
                                     50 if quick else limits.BENCH_REVIEW_REQUESTS)
    if api:
        out["api"] = bench_api(100 if quick else limits.BENCH_API_CLIENTS)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="?", default="all", choices=("review", "api", "all"))
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run of the benchmark itself")
    parser.add_argument("--clients", type=int, default=None)
    parser.add_argument("--submissions", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--db", default=None, help="an EMPTY registry URL for the api figure (default: a fresh SQLite file)")
    args = parser.parse_args(argv)
    if args.what == "api" and (args.clients or args.submissions or args.db or args.workers != 2):
        result = {"api": bench_api(args.clients or limits.BENCH_API_CLIENTS, args.submissions, workers=args.workers,
                                   db_url=args.db)}
    else:
        result = bench_station(review=args.what in ("review", "all"), api=args.what in ("api", "all"), quick=args.quick)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
