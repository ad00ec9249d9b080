"""Schemathesis fuzzes every operation of the OpenAPI document, as the local admin: no 500s.

Bounded so the whole run stays well under two minutes on two cores: a few examples per
operation, derandomised (the same cases every run, so a failure reproduces), no example database.
The document is taken from `create_app().openapi()` (no server, no lifespan at collection time);
each case is sent through the test's own authenticated TestClient.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from backend.main import create_app

EXAMPLES_PER_OPERATION = 6

schema = schemathesis.openapi.from_dict(create_app().openapi())


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_a_server_error(case: Any, client: TestClient) -> None:
    request = case.as_transport_kwargs(base_url="http://testserver")
    headers = {**(request.pop("headers", None) or {}), "Authorization": client.headers["authorization"]}
    response = client.request(headers=headers, **request)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}\n"
        f"reproduce: {case.as_curl_command()}"
    )
