"""What a held action stores and what its execution reports: one pydantic model each, per action.

A request waits for approvals as a JSON row (``approval_requests.payload``) and its outcome is kept as
JSON too (``outcome``), possibly across versions of govsign. The models here are that JSON's schema:
stored with ``model_dump_json()``, read back with ``model_validate_json()``, so a row that does not fit
fails where it is read rather than deep inside an executor. Field names and encodings are those rows
have always had (base64 DER and CSRs, ISO 8601 instants, the revocation reason's enum name, the policy
change's ``from``), so a request held by an older version still runs.

:class:`Executor` pairs an action's payload model with the function that runs it; the functions live
with the actions (:mod:`govsign.access.controlled_actions`, :mod:`govsign.access.approval_policies`).
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Generic, Protocol, TypeVar

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    PlainSerializer,
)

from ca.authority import Authority
from ca.hsm.algorithms import KeyAlgorithm
from ca.profiles import CertificateKind
from ca.reasons import RevocationReason, parse_reason
from govsign.access.trust_anchors import TrustRole

__all__ = [
    "PAYLOADS",
    "POLICY_CHANGE",
    "ActionExecutor",
    "ActionOutcome",
    "ActionPayload",
    "Executor",
    "InformationChangePayload",
    "IssuancePayload",
    "IssuedOutcome",
    "MadeKey",
    "PolicyChangePayload",
    "PolicyOutcome",
    "RevocationOutcome",
    "RevocationPayload",
    "RootCrlOutcome",
    "RootCrlPayload",
    "TrustOutcome",
    "TrustPayload",
    "TrustRemovalPayload",
]

POLICY_CHANGE = "approval.policy"
"""Lowering an approval policy in force, itself a held action (:mod:`govsign.access.approval_policies`)."""

Instant = Annotated[dt.datetime, PlainSerializer(dt.datetime.isoformat, when_used="json")]
"""An instant as ``datetime.isoformat()`` writes it (``+00:00``), as rows and outcomes always had it."""


def _from_base64(value: object) -> object:
    return base64.b64decode(value, validate=True) if isinstance(value, str) else value


def _to_base64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


Base64 = Annotated[bytes, BeforeValidator(_from_base64), PlainSerializer(_to_base64, when_used="json")]
"""Raw bytes in Python, base64 in the stored JSON (pydantic's own Base64Bytes decodes Python bytes too)."""

StoredReason = Annotated[
    RevocationReason,
    BeforeValidator(lambda text: parse_reason(text) if isinstance(text, str) else text),
    PlainSerializer(lambda reason: reason.name, when_used="json"),
]
"""A revocation reason stored by its enum name (``KEY_COMPROMISE``); any name parse_reason knows reads."""


class ActionPayload(BaseModel):
    """What one held action needs to run. Unknown fields of an old row are ignored, not refused."""

    model_config = ConfigDict(frozen=True, serialize_by_alias=True)


class MadeKey(BaseModel):
    """The one field read from any action's payload when its request ends unexecuted: the key made for
    the holder while it waited, to be destroyed. Read alone so that even a row no model fits any more
    still releases its key."""

    key_id: str | None = None


class ActionOutcome(BaseModel):
    """What an approved action reports once it ran (shown to the approvers, kept with the request)."""

    model_config = ConfigDict(frozen=True)


class RevocationPayload(ActionPayload):
    serial: str
    reason: StoredReason
    invalidity_date: Instant | None = None


class RevocationOutcome(ActionOutcome):
    serial: str
    status: str
    reason: str | None


class IssuancePayload(ActionPayload):
    """``request``: the Decree 68 request as received (checked before it was held, parsed again when it
    runs); ``key_id``: absent in rows from before keys were made at the request."""

    profile: CertificateKind
    request: dict[str, JsonValue]
    csr: Base64 | None = None
    key_type: KeyAlgorithm
    key_id: str | None = None


class InformationChangePayload(ActionPayload):
    """``request``: the new Decree 68 request for certificate ``serial`` (checked before it was held,
    parsed again when it runs); ``csr``: a new key's request, when the key changes too."""

    serial: str
    request: dict[str, JsonValue]
    csr: Base64 | None = None


class IssuedOutcome(ActionOutcome):
    serial: str
    subject: str


class TrustPayload(ActionPayload):
    certificate: Base64  # DER
    name: str
    role: TrustRole
    trusted_from: Instant | None = None
    trusted_until: Instant | None = None


class TrustOutcome(ActionOutcome):
    """The new trust entry, as :meth:`TrustedEntry.to_json` shows it."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    id: int
    name: str
    role: TrustRole
    sha256: str
    subject: str
    certificate_not_after: Instant
    trusted_from: Instant | None
    trusted_until: Instant | None
    added_by: str
    added_at: Instant


class TrustRemovalPayload(ActionPayload):
    """The entry to remove, and the certificate it held when the request was made (``sha256``): an entry
    removed and re-added meanwhile is not removed by votes cast for another certificate."""

    entry_id: int
    sha256: str
    name: str


class RootCrlPayload(ActionPayload):
    """Nothing: the root's next CRL is whatever the ceremony step signs when it runs."""


class RootCrlOutcome(ActionOutcome):
    crl_number: int
    next_update: Instant


class PolicyChangePayload(ActionPayload):
    """``previous``: (approvals, hours) the approvers saw in force, stored as ``from``."""

    action: str
    required: int
    valid_hours: int
    previous: tuple[int, int] = Field(
        validation_alias=AliasChoices("from", "previous"), serialization_alias="from"
    )


class PolicyOutcome(ActionOutcome):
    action: str
    required: int
    valid_hours: int


PAYLOADS: Mapping[str, type[ActionPayload]] = {
    "certificate.revoke.organisation": RevocationPayload,
    "certificate.issue.organisation": IssuancePayload,
    "certificate.issue.device": IssuancePayload,
    "certificate.change.organisation": InformationChangePayload,
    "certificate.change.device": InformationChangePayload,
    "trust.add": TrustPayload,
    "trust.remove": TrustRemovalPayload,
    "ca.root-crl": RootCrlPayload,
    POLICY_CHANGE: PolicyChangePayload,
}
"""Each held action's payload model: what :func:`~govsign.access.approvals.hold` checks and stores."""

P = TypeVar("P", bound=ActionPayload)


class Executor(Protocol):
    """What :func:`~govsign.access.approvals.decide` runs for an approved request."""

    def execute(self, authority: Authority, stored: str, actor: str) -> str:
        """Run the action from its stored payload (JSON) as ``actor``; return the outcome's JSON."""
        ...


@dataclass(frozen=True)
class ActionExecutor(Generic[P]):
    """An :class:`Executor` from a payload model and the function that runs the action on it, with the
    requester (and approvers) as the actor."""

    payload: type[P]
    run: Callable[[Authority, P, str], ActionOutcome]

    def execute(self, authority: Authority, stored: str, actor: str) -> str:
        return self.run(authority, self.payload.model_validate_json(stored), actor).model_dump_json()
