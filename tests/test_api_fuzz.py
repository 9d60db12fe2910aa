"""The online API fuzzed from its own description (/api/openapi.json) with schemathesis:
whatever a portal (or anyone) sends, the answer is never a 500, and the description says
what the API really answers."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, status_code_conformance

from station.app import create_app

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

TOKEN = "fuzz-token-0123456789abcdef0123"


@pytest.fixture(scope="module")
def api_app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CSQ_API_TOKEN", TOKEN)
        mp.delenv("CSQ_API_INSECURE_DEV", raising=False)
        app = create_app(f"sqlite:///{folder}/registry.db", folder / "data")
    yield app
    app.state.station.registry.close()


def test_the_description_has_the_portals_endpoint(api_app):
    from fastapi.testclient import TestClient

    doc = TestClient(api_app).get("/api/openapi.json").json()
    post = doc["paths"]["/api/applications"]["post"]
    body = doc["components"]["schemas"]["Application"]["properties"]["fields"]
    assert {"201", "200", "400", "401", "409", "413", "415", "422", "503"} <= set(post["responses"])
    assert post["security"] == [{"bearerAuth": []}] and doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert "passport_number" in body["properties"] and "family_name" in body["required"]
    assert body["properties"]["sex"]["enum"] and body["properties"]["declaration_signed"]["type"] == "boolean"
    assert all(path.startswith("/api/") for path in doc["paths"])  # staff pages are not the portal's API


@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE])
def test_no_request_makes_the_api_fail(api_app, mode):
    """Every operation of the description, with data that fits it (positive) and data that
    breaks it (negative), with the token and without: no 500, and only statuses it declares."""
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", api_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {(op.method.upper(), op.path) for op in operations} == {("POST", "/api/applications"),
                                                                   ("GET", "/api/applications/{file_no}")}
    for operation in operations:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case):
            for headers in ({"Authorization": f"Bearer {TOKEN}"}, {}):
                response = case.call(headers=headers)
                case.validate_response(response, checks=(not_a_server_error, status_code_conformance))

        run()
