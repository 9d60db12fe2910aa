"""Fixtures shared by the test modules: a throw-away PostgreSQL database per test session
and a fresh schema of it per test (skipped when no server answers on 127.0.0.1:5432); the ICR
training script as a module."""

from __future__ import annotations

import importlib.util
import secrets
from pathlib import Path

import pytest

PG_SERVER = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/{database}?options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session")
def pg_database():
    """A throw-away PostgreSQL database for this test session (per xdist worker)."""
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(PG_SERVER, autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable on 127.0.0.1:5432 ({exc.__class__.__name__})")
    name = f"csq_test_{secrets.token_hex(5)}"
    admin.execute(f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


@pytest.fixture
def pg_url(pg_database):
    """A fresh schema of the session database: each test starts from nothing."""
    import psycopg

    schema = f"t_{secrets.token_hex(5)}"
    with psycopg.connect(PG_SERVER.replace("dbname=test", f"dbname={pg_database}"), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield PG_URL.format(database=pg_database, schema=schema)
    with psycopg.connect(PG_SERVER.replace("dbname=test", f"dbname={pg_database}"), autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(scope="session")
def train_icr():
    """scripts/train_icr.py imported as a module (it is a script, not a package)."""
    path = Path(__file__).resolve().parents[1] / "scripts" / "train_icr.py"
    spec = importlib.util.spec_from_file_location("train_icr", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by playwright (the browser tests' one browser per module)."""
    import os

    import station_fixtures as T

    if not os.path.exists(T.CHROMIUM):
        pytest.fail(f"{T.CHROMIUM} is missing: scripts/install.sh installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=T.CHROMIUM, args=T.CHROMIUM_ARGS)
        yield chromium
        chromium.close()
