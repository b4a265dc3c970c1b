"""Reading the audit log and a certificate's dossier on both databases: filters by action (exact or a
prefix), actor (any case), object and time, newest first and bounded; the dossier's history and the
account list as the console's pages read them."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from ca.audit import AuditEvent, record
from ca.audit_search import MAX_ENTRIES, AuditQuery, search_log
from ca.errors import InvalidRequest
from ca.store import utc_now
from govsign.access.accounts import TOKEN_PREFIX, Account, AccountKind, create_account, list_accounts
from govsign.access.api_tokens import reissue_token
from govsign.access.certificate_dossier import certificate_dossier
from tests.conftest import Deployment, issue_in_hsm


def test_filters_choose_by_action_actor_object_and_time_newest_first(deployment: Deployment) -> None:
    marker = uuid.uuid4().hex[:10]
    database, token = deployment.authority.database, deployment.authority.token
    before = utc_now()
    record(
        database, token, AuditEvent(f"tester-{marker}", "test.alpha", f"thing:{marker}:1", details={"n": 1})
    )
    record(database, token, AuditEvent(f"tester-{marker}", "test.beta", f"thing:{marker}:2"))
    record(database, token, AuditEvent("someone-else", "test.alpha", f"thing:{marker}:3"))

    mine = search_log(database, AuditQuery(actor=f"TESTER-{marker.upper()}"))
    assert [e.object for e in mine] == [f"thing:{marker}:2", f"thing:{marker}:1"]  # newest first, any case
    assert mine[1].details == {"n": 1} and mine[1].at >= before
    by_prefix = search_log(database, AuditQuery(action="test.", actor=marker))
    assert {e.action for e in by_prefix} == {"test.alpha", "test.beta"}
    exact = search_log(
        database, AuditQuery(action="test.alpha", objects=(f"thing:{marker}:1", f"thing:{marker}:3"))
    )
    assert [e.actor for e in exact] == ["someone-else", f"tester-{marker}"]
    assert search_log(database, AuditQuery(actor=marker, since=utc_now() + dt.timedelta(hours=1))) == []
    assert search_log(database, AuditQuery(actor=marker, until=before)) == []
    assert len(search_log(database, AuditQuery(actor=marker, limit=1))) == 1
    assert (
        search_log(database, AuditQuery(actor="%", action="test.alpha", objects=(f"thing:{marker}:1",))) == []
    )


@pytest.mark.pure
def test_a_query_refuses_naive_times_reversed_ranges_and_pages_too_large() -> None:
    now = utc_now()
    with pytest.raises(InvalidRequest, match="time zone"):
        AuditQuery(since=dt.datetime(2026, 1, 1))
    with pytest.raises(InvalidRequest, match="before its end"):
        AuditQuery(since=now, until=now - dt.timedelta(seconds=1))
    with pytest.raises(InvalidRequest, match=str(MAX_ENTRIES)):
        AuditQuery(limit=MAX_ENTRIES + 1)


def test_the_dossier_and_the_account_list_read_what_happened(deployment: Deployment) -> None:
    serial = issue_in_hsm(deployment)
    account = create_account(deployment.authority, AccountKind.OFFICIAL, serial, actor="test")
    dossier = certificate_dossier(deployment.authority, serial)
    assert dossier.holder == "Nguyễn Văn Ánh — Sở Tư pháp thành phố Hà Nội"
    assert [link.subject for link in dossier.chain][1:] == [
        deployment.issuing.subject.rfc4514_string(),
        deployment.root.subject.rfc4514_string(),
    ]
    actions = [entry.action for entry in dossier.history]
    assert actions[0] == "account.create"  # newest first
    assert {"certificate.issue", "credential.take-control"} <= set(actions) and dossier.key_status is not None
    listed = list_accounts(deployment.authority, serial)
    assert [(a.id, a.key_state, a.holder) for a in listed] == [(account.id, "active", "Nguyễn Văn Ánh")]
    assert list_accounts(deployment.authority, "nguyễn văn") != []  # any case


def test_the_dossier_shows_an_administrator_taking_the_holders_token(deployment: Deployment) -> None:
    """A ca_admin who reissues an official's API token holds the account's way in (only the PIN is
    missing); the certificate's history must show it, although the token's entries name the object by the
    table ("accounts:N") where the other account entries say "account:N"."""
    serial = issue_in_hsm(deployment)
    account = create_account(deployment.authority, AccountKind.OFFICIAL, serial, actor="test")
    reissue_token(
        deployment.authority, Account, account.id, TOKEN_PREFIX, revoke=False, days=1, actor="admin-x"
    )
    history = certificate_dossier(deployment.authority, serial).history
    assert ("token.reissue", "admin-x") in [(entry.action, entry.actor) for entry in history]
