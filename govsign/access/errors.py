"""The refusals about people and permissions: who is asking, whether they may, whether others must agree.

They are not CA errors (:class:`ca.errors.CaError`): the CA knows nothing of accounts or dual control, so
these live with the room that does, and the faces map them to statuses and exit codes beside the CA's
and the signer's errors (:mod:`govsign.errors`).
"""

from __future__ import annotations

__all__ = ["AccessError", "NotAuthenticated", "NotAuthorised", "PendingApproval"]


class AccessError(Exception):
    """Base of every access refusal a person reads."""


class NotAuthenticated(AccessError):
    """No API token, or one we do not know (HTTP 401)."""


class NotAuthorised(AccessError):
    """The account may not do this, e.g. sign with someone else's certificate (HTTP 403)."""


class PendingApproval(AccessError):
    """The action waits for approvals (CLI exit code 3, HTTP 202); nothing was done yet."""

    def __init__(self, approval_id: str, action: str, required: int, description: str) -> None:
        super().__init__(f"{description}: waits for {required} approval(s), request {approval_id}")
        self.approval_id = approval_id
        self.action = action
        self.required = required
        # A held issuance whose key was made at once: its holder's one-time set-up code, shown once to
        # the requester (the registration officer who hands it over), never stored with the request.
        self.setup_code: str | None = None
