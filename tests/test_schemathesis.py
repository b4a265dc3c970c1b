"""schemathesis against /openapi.json: generated requests for every operation, a bounded number each; no
answer may be a 5xx or break the schema the operation documents.

A deployment of its own, since the generated requests may revoke, delete or add whatever their random
identifiers hit. Each operation is called with a token of a role it admits, so the requests reach past
the access check into the route itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance
from schemathesis.core.result import Err

if TYPE_CHECKING:  # the aliases schemathesis declares for its OpenAPI operations, for type checkers only
    from schemathesis.specs.openapi.schemas import OpenApiCase, OpenApiOperation

from tests.conftest import Deployment, administrator_token, issue_in_hsm, make_deployment, running_server

# Which caller each path is tried as: the first role the route admits (tests/test_access_matrix.py).
EXAMPLES = 20
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
ROLE_BY_PREFIX = (
    ("/api/v1/sign", "official"),
    ("/api/v1/batches", "official"),
    ("/csc", "official"),
    ("/api/v1/certificates", "ra_officer"),
    ("/api/v1/trust-anchors", "ca_admin"),
    ("/api/v1/audit", "auditor"),
    ("/api/v1/approvals", "ca_admin"),
    ("/api/v1/accounts", "ca_admin"),
)


@pytest.fixture(scope="module")
def fuzzed() -> Deployment:
    return make_deployment("fuzzed", None)


@pytest.fixture(scope="module")
def tokens(fuzzed: Deployment) -> dict[str, str]:
    created = fuzzed.cli("account", "create-official", "--cert", issue_in_hsm(fuzzed)).stdout
    return {
        "official": created.strip().splitlines()[-1],
        **{role: administrator_token(fuzzed, role) for role in ("ca_admin", "ra_officer", "auditor")},
    }


@pytest.fixture(scope="module")
def base(fuzzed: Deployment) -> Iterator[str]:
    with running_server(fuzzed, GOVSIGN_VERIFY_RATE_PER_SECOND="1000", GOVSIGN_VERIFY_BURST="1000") as url:
        yield url


def test_no_server_error_and_no_response_against_its_schema(base: str, tokens: dict[str, str]) -> None:
    """Driven through schemathesis's Python API (its pytest plugin does not run under pytest 9 yet):
    one Hypothesis run per operation; every failure is collected and reported together."""
    api = schemathesis.openapi.from_url(f"{base}/openapi.json")
    failures: list[str] = []
    for result in api.get_all_operations():
        if isinstance(result, Err):  # an operation schemathesis cannot read is a failure, not a crash
            failures.append(f"unreadable operation: {result.err()}"[:2000])
            continue
        operation = result.ok()
        role = next((role for prefix, role in ROLE_BY_PREFIX if operation.path.startswith(prefix)), None)
        try:
            _explore(operation, {"Authorization": f"Bearer {tokens[role]}"} if role else {})
        except Exception as failure:  # schemathesis raises a grouped failure per operation
            failures.append(f"{operation.method.upper()} {operation.path}: {failure}"[:2000])
    assert not failures, "\n\n".join(failures)


def _explore(operation: OpenApiOperation, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def call(case: OpenApiCase) -> None:
        case.call_and_validate(headers=headers, timeout=60, checks=CHECKS)

    call()
