"""Protection and change requests (SPEC §15): the policy of an environment, the requests of a
deployment, and what a request's release would change against the live one (names only)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery
from django.http import Http404

from .. import permissions, rules
from ..models import (
    ChangeRequest,
    ConfigEntry,
    Deployment,
    Environment,
    Protection,
    Review,
    Role,
)
from .releases import PendingChanges, pending_changes


def protection_of(environment: Environment) -> Protection | None:
    """The environment's protection row, if it has one (on or off). One query."""
    return Protection.objects.filter(environment_id=environment.pk).first()


def is_protected(environment: Environment) -> bool:
    protection = protection_of(environment)
    return protection is not None and protection.is_on


def need_to_release(environment: Environment) -> Role:
    """The role a deploy, promotion, apply or rollback into `environment` needs from a page or
    the API: in a protected environment a developer may ask (the release waits for review)."""
    if is_protected(environment):
        return permissions.TO_REQUEST_CHANGES
    return permissions.to_deploy_into(environment)


def _with_reviews(rows: QuerySet[ChangeRequest]) -> QuerySet[ChangeRequest]:
    return rows.select_related("environment", "version", "release", "author").prefetch_related(
        Prefetch("reviews", queryset=Review.objects.order_by("created_at", "id"))
    )


def get_change_request(deployment: Deployment, pk: int) -> ChangeRequest:
    """One request of the deployment, with its reviews (Http404 otherwise)."""
    if not 0 < pk <= rules.MAX_NUMBER:
        raise Http404("No such change request.")
    request = _with_reviews(ChangeRequest.objects.filter(deployment=deployment, pk=pk)).first()
    if request is None:
        raise Http404("No such change request.")
    request.environment.deployment = deployment
    return request


def change_requests(
    deployment: Deployment,
    *,
    state: str | None = None,
    environment: Environment | None = None,
    limit: int = 100,
) -> list[ChangeRequest]:
    """Newest first, with their reviews: three queries however many."""
    rows = ChangeRequest.objects.filter(deployment=deployment)
    if state:
        rows = rows.filter(state=state)
    if environment is not None:
        rows = rows.filter(environment=environment)
    found = list(_with_reviews(rows).order_by("-id")[:limit])
    for request in found:
        request.environment.deployment = deployment
    return found


def open_requests(environment: Environment) -> list[ChangeRequest]:
    """The environment's open requests, oldest first, without their reviews (one query)."""
    return list(
        ChangeRequest.objects.filter(environment=environment, state=ChangeRequest.State.OPEN)
        .select_related("version")
        .order_by("id")
    )


def expired_change_request_ids(now: datetime) -> list[int]:
    return list(
        ChangeRequest.objects.filter(state=ChangeRequest.State.OPEN, expires_at__lte=now)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def approval_count(request: ChangeRequest) -> int:
    """Distinct approvers who count (from the prefetched reviews): the author only where
    self-approval was allowed."""
    return len(
        {
            r.reviewer_id
            for r in request.reviews.all()
            if r.decision == Review.Decision.APPROVE
            and r.reviewer_id is not None
            and (request.allow_self_approval or r.reviewer_id != request.author_id)
        }
    )


# The pipeline -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProtectionState:
    """What an environment's card and page say about its protection."""

    protection: Protection | None
    open_requests: int
    break_glass: ChangeRequest | None  # applied without approval, until the next approved one

    @property
    def required_approvals(self) -> int:
        return self.protection.required_approvals if self.protection else 0


def protection_states(environments: Iterable[Environment]) -> dict[int, ProtectionState]:
    """By environment id: protection, open requests, a break-glass release still standing.
    Two queries however many environments."""
    ids = [e.pk for e in environments]
    protections = {p.environment_id: p for p in Protection.objects.filter(environment_id__in=ids)}
    newest_applied = ChangeRequest.objects.filter(
        environment=OuterRef("environment"), state=ChangeRequest.State.APPLIED
    ).order_by("-closed_at", "-id")
    open_counts: dict[int, int] = {}
    standing: dict[int, ChangeRequest] = {}
    for request in (
        ChangeRequest.objects.filter(environment_id__in=ids)
        .filter(
            Q(state=ChangeRequest.State.OPEN)
            | Q(break_glass=True, pk=Subquery(newest_applied.values("pk")[:1]))
        )
        .select_related("release")
        .only(
            "pk",
            "environment_id",
            "state",
            "closed_by_label",
            "break_glass_reason",
            "release__number",
        )
    ):
        if request.state == ChangeRequest.State.OPEN:
            open_counts[request.environment_id] = open_counts.get(request.environment_id, 0) + 1
        else:
            standing[request.environment_id] = request
    return {
        pk: ProtectionState(protections.get(pk), open_counts.get(pk, 0), standing.get(pk))
        for pk in ids
    }


# What a request would change ---------------------------------------------------------------------


@dataclass(frozen=True)
class RequestDiff:
    """The request's release against the live one: version, keys by name, and whether the
    environment moved on since the request's base (then applying it is refused as stale)."""

    live_version: int | None
    version: int
    keys: PendingChanges  # added, changed, removed between the live release and the target
    pending: PendingChanges  # the environment's pending changes (included in an apply)
    moved_on: bool


def request_diff(request: ChangeRequest) -> RequestDiff:
    environment = request.environment
    live = environment.live_release
    live_revision = live.config_revision if live else 0
    target = request.config_revision
    rows = ConfigEntry.objects.filter(environment=environment).defer("ciphertext")
    rows = list(rows.filter(_alive_at(live_revision) | _alive_at(target)))
    keys = _difference(rows, live_revision, target)
    return RequestDiff(
        live_version=live.version.number if live else None,
        version=request.version.number,
        keys=keys,
        pending=pending_changes(environment),
        moved_on=(live.number if live else None) != request.base_release
        or environment.config_revision != request.base_revision,
    )


def _alive_at(revision: int) -> Q:
    return Q(set_revision__lte=revision) & (
        Q(end_revision__isnull=True) | Q(end_revision__gt=revision)
    )


def _difference(rows: list[ConfigEntry], left: int, right: int) -> PendingChanges:
    """Keys added, changed and removed from revision `left` to revision `right` (fingerprints
    decide "changed": no value is decrypted)."""

    def alive_at(revision: int) -> dict[tuple[str, str], ConfigEntry]:
        return {
            (e.kind, e.key): e
            for e in rows
            if e.set_revision <= revision and (e.end_revision is None or e.end_revision > revision)
        }

    def label(entry: ConfigEntry) -> str:
        return f"domain {entry.key}" if entry.kind == ConfigEntry.Kind.DOMAIN else entry.key

    before, after = alive_at(left), alive_at(right)
    return PendingChanges(
        added=sorted(label(after[k]) for k in after.keys() - before.keys()),
        changed=sorted(
            label(after[k])
            for k in after.keys() & before.keys()
            if after[k].pk != before[k].pk
            and bytes(after[k].fingerprint) != bytes(before[k].fingerprint)
        ),
        removed=sorted(label(before[k]) for k in before.keys() - after.keys()),
        live_revision=left or None,
        revision=right,
    )


def revealable_keys(diff: RequestDiff) -> list[str]:
    """The keys whose plain values an admin may reveal on the review page (the service leaves
    out any that is or was a secret there): the variables the release changes."""
    return [k for k in diff.keys.names if not k.startswith("domain ")]
