"""Reads of raw material, audited before any value leaves the server."""

from __future__ import annotations

from .. import audit
from ..audit import Actor
from ..models import Deployment, Environment


def record_reveal(
    *,
    environment: Environment | None,
    deployment: Deployment,
    keys: list[str],
    actor: Actor,
    outcome: str = "success",
) -> None:
    audit.record(
        "variable.reveal",
        actor=actor,
        deployment=deployment,
        environment=environment,
        target=",".join(keys)[:300],
        outcome=outcome,
        detail={"count": len(keys)},
    )


def record_runtime_fetch(
    *, environment: Environment, actor: Actor, fmt: str, outcome: str = "success", reason: str = ""
) -> None:
    audit.record(
        "runtime.fetch",
        actor=actor,
        environment=environment,
        outcome=outcome,
        detail={"format": fmt} | ({"reason": reason} if reason else {}),
    )
