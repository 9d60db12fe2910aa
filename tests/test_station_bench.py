"""The station's benchmark runs end to end on tiny counts (its figures come from
`python -m station.bench`; here only that it works and checks what it claims)."""

from __future__ import annotations

import pytest

from station import bench

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


def test_review_benchmark_runs_on_a_small_queue(tmp_path):
    result = bench.bench_review(pending_fields=20, requests=5, workdir=tmp_path)
    assert result["pending_fields"] == 20
    assert result["review_page"]["n"] == 5 and result["save_and_next"]["n"] == 5


def test_api_benchmark_counts_every_submission_once(tmp_path):
    result = bench.bench_api(clients=8, submissions=12, workers=1, timeout_s=120, workdir=tmp_path)
    assert result["accepted"] == 12 and result["registry_online_files"] == 12
    assert result["lost"] == 0 and result["duplicated"] == 0 and result["replayed_keys_same_file"]


def test_percentiles():
    assert bench.percentile([5, 1, 3, 2, 4], 50) == 3
    assert bench.percentile(list(range(1, 101)), 99) == 99
    assert bench.percentile([], 50) != bench.percentile([], 50)  # NaN: nothing measured
