"""Every query on a hot path walks an index (issue 14): the query plans of the statements the code runs,
asked from SQLite (EXPLAIN QUERY PLAN) and PostgreSQL (EXPLAIN with sequential scans priced out, so that a
Seq Scan left in the plan means no index could serve). Plans, not timings: the answer does not depend on
how busy the machine is, and a missing index shows at 10 rows as at 10 million."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text
from sqlalchemy.sql.expression import ClauseElement

from ca.intents import stale_intents
from ca.ocsp import stored_response
from ca.ocsp_refresh import due_responses
from ca.store import utc_now
from tests.conftest import Deployment

BIG_TABLES = ("certificates", "ocsp_responses", "issuance_intents", "audit_log")


def _statements(deployment: Deployment) -> dict[str, ClauseElement]:
    issuer = deployment.authority.issuing_ca().id
    now = utc_now()
    return {
        "OCSP look-up by serial": stored_response(issuer, "1234abcd"),
        "OCSP refresh: answers past their half-life": due_responses(issuer, now, 200),
        "intents a crash left": stale_intents(now - dt.timedelta(hours=1)),
    }


def _plan(deployment: Deployment, statement: ClauseElement) -> str:
    engine = deployment.authority.database.engine
    with engine.connect() as connection:
        # the values written into the statement: a plan is the same for any value of the same type
        sql = str(
            statement.compile(
                dialect=connection.dialect, compile_kwargs={"literal_binds": True, "render_postcompile": True}
            )
        )
        if connection.dialect.name == "sqlite":
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}").all()
            return "\n".join(str(row[-1]) for row in rows)
        with connection.begin():
            connection.execute(text("SET LOCAL enable_seqscan = off"))
            rows = connection.exec_driver_sql(f"EXPLAIN {sql}").all()
        return "\n".join(str(row[0]) for row in rows)


@pytest.mark.parametrize(
    "name", ["OCSP look-up by serial", "OCSP refresh: answers past their half-life", "intents a crash left"]
)
def test_hot_queries_walk_an_index(deployment: Deployment, name: str) -> None:
    plan = _plan(deployment, _statements(deployment)[name])
    for table in BIG_TABLES:
        scanned = f"SCAN {table}" if deployment.backend == "sqlite" else f"Seq Scan on {table}"
        for line in plan.splitlines():
            assert not (scanned in line and "INDEX" not in line), f"{name} scans {table}:\n{plan}"
