"""`govsign approvals ...`: dual control from the server's command line.

The operator is the OS user (for root: sudo's SUDO_USER). Votes count only from an OS user mapped to an
administrator record (`govsign admin create ... --os-user NAME`) whose role the action admits: the same
rules, and the same person, as over the API and in the console.
"""

from __future__ import annotations

from typing import Annotated

import typer

from govsign.access.approval_policies import policies, set_policy
from govsign.access.approvals import ACTIONS, RequestView, decide, list_requests
from govsign.config import runtime
from govsign.config.settings import load_settings

__all__ = ["approvals_app"]

approvals_app = typer.Typer(no_args_is_help=True, help="Dual control: requests waiting for approvals")


def _show(request: RequestView) -> None:
    votes = ", ".join(request.approvals) or "none"
    typer.echo(
        f"{request.id}\t{request.state}\t{len(request.approvals)}/{request.required}\t{request.summary}"
        f"\trequested by {request.requested_by}\tapproved by {votes}\texpires {request.expires_at:%Y-%m-%d %H:%M} UTC"
    )


@approvals_app.command("list")
def list_command(
    every: Annotated[bool, typer.Option("--all", help="also finished requests")] = False,
) -> None:
    """Requests waiting for approval (or all recent ones)."""
    for request in list_requests(
        runtime.open_authority_from(load_settings()), state=None if every else "pending"
    ):
        _show(request)


def _decide(approval_id: str, approve: bool) -> None:
    settings = load_settings()
    outcome = decide(
        runtime.open_authority_from(settings),
        approval_id,
        approver=runtime.OPERATOR,
        approve=approve,
        executors=runtime.approval_executors(settings),
    )
    _show(outcome)
    if outcome.outcome:
        typer.echo(f"outcome: {outcome.outcome}")
    if outcome.state == "failed":
        raise typer.Exit(1)


@approvals_app.command("approve")
def approve(approval_id: str) -> None:
    """Approve a request; the last approval needed runs the action."""
    _decide(approval_id, approve=True)


@approvals_app.command("reject")
def reject(approval_id: str) -> None:
    """Reject a request: one rejection ends it."""
    _decide(approval_id, approve=False)


@approvals_app.command("policy")
def policy(
    action: Annotated[str, typer.Argument(help=", ".join(ACTIONS))],
    required: Annotated[int, typer.Option(help="approvals needed (0: no dual control)")],
    hours: Annotated[int, typer.Option(help="hours a request stays open")] = 24,
) -> None:
    """Set how many approvals an action needs (a configuration change, audited). Raising it applies at
    once; lowering a policy in force (fewer approvals, fewer hours, 0) waits for other ca_admins: exit 3."""
    set_policy(runtime.open_authority_from(load_settings()), action, required, hours, actor=runtime.OPERATOR)
    typer.echo(f"{action}: {required} approval(s), requests open {hours} h")


@approvals_app.command("policies")
def policies_command() -> None:
    """Every action dual control can hold, with its current policy."""
    for action, (required, hours) in policies(runtime.open_authority_from(load_settings())).items():
        typer.echo(f"{action}\t{required} approval(s)\t{hours} h\t{ACTIONS[action]}")
