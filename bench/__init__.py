"""Benchmarks of csq-intake, and the tools that drive the product from outside: figures
anyone can rerun, never timed tests. Outside the product's flow: nothing in templates/,
forms/, scan/, registry/ or station/ imports this package (scan/calibrate.py borrows its
scoring against truth, at calibration time only).

- scan.py: `csq bench scan` — generated envelopes through the real intake, scored against truth;
- ranking.py: `csq bench queue` — rank and list a million applications; `bench_registry`,
  the throw-away registry every registry benchmark runs in;
- station.py: `csq bench api`, `python -m bench.station review` — the API's submissions/s
  and the review page's latency;
- load.py: `csq bench load` — online submissions while a stack is scanned into the same registry;
- live.py: a station driven from outside (in-process client login, uvicorn in a thread, Chromium);
- screenshot.py: `python -m bench.screenshot docs/` — the review station's pictures for the docs;
- public_pages.py: `csq bench public` — the candidates' pages under a rush (prefilled PDFs/s).
"""
