"""Protected environments and change requests (SPEC §15).

`instead_of_release` is the one gate the release entries (services.releases: deploy, promote,
apply, rollback) call under the environment's lock, after their own checks: in a protected
environment it opens a request instead of releasing. Applying a request releases its target
only while the environment's live release and config revision still equal its base; otherwise
the request becomes `stale` (committed) and the caller gets 409 stale: nothing a reviewer did
not see goes live. Every write locks the environment's row first (the lock order,
environment_writes), so two approvers applying at once make one release.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from .. import audit, crypto, selectors
from ..actors import Actor
from ..errors import Conflict, Invalid
from ..models import ChangeRequest, ConfigEntry, Environment, Protection, Release, Review, Version
from ..models.change_requests import (
    MAX_COMMENT,
    MAX_REASON,
    MAX_REQUIRED_APPROVALS,
    MIN_BREAK_GLASS_REASON,
)
from . import releases
from .environment_writes import lock_environment

# Open requests expire after this long (SPEC §15); `manage.py expire_change_requests` closes them.
LIFETIME = timedelta(days=7)


# Protection ---------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def set_protection(
    *,
    environment: Environment,
    required_approvals: int,
    allow_self_approval: bool = False,
    break_glass: bool = True,
    actor: Actor,
) -> Protection:
    """Protect an environment (1..5 approvals) or turn protection off (0). Open requests stay
    open either way; with protection off they apply only by break-glass.

    A protected environment's config changes are staged: in an `immediate` one each committed
    change would be a release no one approved, so protecting it makes it staged (audited as
    `environment.config_changes`), and its changes wait for an apply, which opens a request.
    Turning protection off leaves it staged."""
    if not isinstance(required_approvals, int) or not (
        0 <= required_approvals <= MAX_REQUIRED_APPROVALS
    ):
        raise Invalid(
            f"required_approvals is 0 (off) to {MAX_REQUIRED_APPROVALS}.",
            field="required_approvals",
        )
    environment = lock_environment(environment)
    protection, _ = Protection.objects.update_or_create(
        environment=environment,
        defaults={
            "required_approvals": required_approvals,
            "allow_self_approval": allow_self_approval,
            "break_glass": break_glass,
            "updated_by_label": actor.label,
        },
    )
    staged = required_approvals > 0 and not environment.is_staged
    audit.record(
        "environment.protection",
        actor=actor,
        environment=environment,
        target=f"{required_approvals} approvals",
        detail={
            "required_approvals": required_approvals,
            "allow_self_approval": allow_self_approval,
            "break_glass": break_glass,
        }
        | ({"config_changes": Environment.ConfigChanges.STAGED} if staged else {}),
    )
    if staged:
        environment.config_changes = Environment.ConfigChanges.STAGED
        environment.save(update_fields=["config_changes"])
        audit.record(
            "environment.config_changes",
            actor=actor,
            environment=environment,
            target=Environment.ConfigChanges.STAGED,
            detail={"because": "protected"},
        )
    return protection


# The gate -------------------------------------------------------------------------------------


def instead_of_release(
    environment: Environment,
    *,
    kind: str,
    version: Version,
    actor: Actor,
    reason: str = "",
    may_release: bool = True,
    revision: int | None = None,
    source: Environment | None = None,
    rollback_of: int | None = None,
) -> ChangeRequest | None:
    """In a protected environment, open a change request for the release the caller was about
    to make, and return it; else None (release). The caller holds the environment's lock and
    checked the release. `may_release` False: the caller may only ask (a developer into
    production), so an unprotected environment refuses it."""
    protection = selectors.protection_of(environment)
    if protection is None or not protection.is_on:
        if not may_release:
            raise PermissionDenied(
                f"Releasing into {environment.name} needs a higher role, and it is not "
                "protected: there is no change request to open."
            )
        return None
    reason = _reason(reason)
    revision = environment.config_revision if revision is None else revision
    missing = selectors.missing_required_keys(environment, revision)
    if missing:
        raise Conflict(
            f"{environment.name} would go live without {', '.join(missing)}, which every "
            "release must define. Set them first.",
            code="missing_required_keys",
            field="required_keys",
        )
    live = environment.live_release
    request = ChangeRequest.objects.create(
        deployment_id=environment.deployment_id,
        environment=environment,
        kind=kind,
        base_release=live.number if live else None,
        base_revision=environment.config_revision,
        version=version,
        config_revision=revision,
        source_environment=source.name if source else "",
        rollback_of=rollback_of,
        required_approvals=protection.required_approvals,
        allow_self_approval=protection.allow_self_approval,
        author=actor.user,
        author_label=_who(actor),
        reason=reason,
        expires_at=timezone.now() + LIFETIME,
    )
    audit.record(
        "change_request.open",
        actor=actor,
        environment=environment,
        target=f"request {request.pk}",
        detail={
            "request": request.pk,
            "kind": kind,
            "version": version.number,
            "config_revision": revision,
            "base_release": request.base_release,
            "base_revision": request.base_revision,
        },
    )
    return request


def _who(actor: Actor) -> str:
    """The person a request names (their username; the audit event keeps the token too)."""
    return actor.user.get_username() if actor.user is not None else actor.label


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON:
        raise Invalid(f"A reason has at most {MAX_REASON} characters.", field="reason")
    if "\x00" in reason:
        raise Invalid("A reason may not contain a NUL character.", field="reason")
    return reason


# Reviews --------------------------------------------------------------------------------------


def _locked(change_request: ChangeRequest) -> tuple[ChangeRequest, Environment]:
    """The environment's row locked, then the request read afresh under it."""
    environment = lock_environment(Environment(pk=change_request.environment_id))
    fresh = ChangeRequest.objects.select_related("version").get(pk=change_request.pk)
    fresh.environment = environment
    return fresh, environment


def _open_or_refuse(request: ChangeRequest, now: datetime) -> bool:
    """True when the request may move on; False when it has just expired (the caller commits
    that, then refuses). Closed ones are refused at once."""
    if request.state != ChangeRequest.State.OPEN:
        raise Conflict(f"Request {request.pk} is {request.state}.", code="not_open")
    if request.expires_at <= now:
        _close(
            request, ChangeRequest.State.EXPIRED, Actor.system("expiry"), "change_request.expire"
        )
        return False
    return True


def _close(request: ChangeRequest, state: str, actor: Actor, action: str, **detail) -> None:
    request.state = state
    request.closed_at = timezone.now()
    request.closed_by_label = _who(actor)
    request.save(update_fields=["state", "closed_at", "closed_by_label"])
    audit.record(
        action,
        actor=actor,
        environment=request.environment,
        target=f"request {request.pk}",
        detail={"request": request.pk, **detail},
    )


def _expired(request: ChangeRequest) -> Conflict:
    return Conflict(f"Request {request.pk} expired; nothing went live.", code="expired")


def approve_change_request(
    *, change_request: ChangeRequest, actor: Actor, comment: str = ""
) -> ChangeRequest:
    """Approve as a reviewer (the caller checked the role). Counted once per reviewer; the
    author's own approval is refused unless the policy allowed self-approval."""
    return _review(change_request, actor, Review.Decision.APPROVE, comment)


def reject_change_request(
    *, change_request: ChangeRequest, actor: Actor, comment: str = ""
) -> ChangeRequest:
    """Reject: the request is closed, nothing goes live."""
    return _review(change_request, actor, Review.Decision.REJECT, comment)


def _review(change_request: ChangeRequest, actor: Actor, decision: str, comment: str):
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT or "\x00" in comment:
        raise Invalid(f"A comment is text of at most {MAX_COMMENT} characters.", field="comment")
    with transaction.atomic(durable=True):
        request, _ = _locked(change_request)
        if _open_or_refuse(request, timezone.now()):
            is_author = actor.user is not None and request.author_id == actor.user.pk
            if (
                decision == Review.Decision.APPROVE
                and is_author
                and not request.allow_self_approval
            ):
                raise Conflict(
                    "You opened this request: another reviewer must approve it.",
                    code="self_approval",
                )
            if Review.objects.filter(change_request=request, reviewer=actor.user).exists():
                raise Conflict("You already reviewed this request.", code="already_reviewed")
            Review.objects.create(
                change_request=request,
                reviewer=actor.user,
                reviewer_label=_who(actor),
                decision=decision,
                comment=comment,
            )
            if decision == Review.Decision.REJECT:
                _close(request, ChangeRequest.State.REJECTED, actor, "change_request.reject")
            else:
                audit.record(
                    "change_request.approve",
                    actor=actor,
                    environment=request.environment,
                    target=f"request {request.pk}",
                    detail={"request": request.pk},
                )
            return request
    raise _expired(change_request)


@transaction.atomic(durable=True)
def _cancel(change_request: ChangeRequest, actor: Actor) -> ChangeRequest | None:
    request, _ = _locked(change_request)
    if not _open_or_refuse(request, timezone.now()):
        return None
    _close(request, ChangeRequest.State.CANCELLED, actor, "change_request.cancel")
    return request


def cancel_change_request(*, change_request: ChangeRequest, actor: Actor) -> ChangeRequest:
    """Withdraw an open request (its author, or an owner: the caller checked)."""
    cancelled = _cancel(change_request, actor)
    if cancelled is None:
        raise _expired(change_request)
    return cancelled


# Apply ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    request: ChangeRequest
    release: Release


def approvals(request: ChangeRequest) -> int:
    """Distinct approvers who count: the author only where self-approval was allowed."""
    reviews = Review.objects.filter(change_request=request, decision=Review.Decision.APPROVE)
    if not request.allow_self_approval and request.author_id is not None:
        reviews = reviews.exclude(reviewer_id=request.author_id)
    return reviews.exclude(reviewer__isnull=True).values("reviewer").distinct().count()


def is_stale(request: ChangeRequest, environment: Environment) -> bool:
    live = environment.live_release
    return (live.number if live else None) != request.base_release or (
        environment.config_revision != request.base_revision
    )


@transaction.atomic(durable=True)
def _apply(
    change_request: ChangeRequest, actor: Actor, break_glass: bool, reason: str
) -> Applied | str:
    request, environment = _locked(change_request)
    if not _open_or_refuse(request, timezone.now()):
        return ChangeRequest.State.EXPIRED
    if break_glass:
        protection = selectors.protection_of(environment)
        if protection is not None and protection.is_on and not protection.break_glass:
            raise Conflict(
                f"{environment.name}'s protection does not allow break-glass.",
                code="break_glass_not_allowed",
            )
    elif approvals(request) < request.required_approvals:
        raise Conflict(
            f"Request {request.pk} has {approvals(request)} of the "
            f"{request.required_approvals} approvals it needs.",
            code="not_approved",
        )
    if is_stale(request, environment):
        live = environment.live_release
        _close(
            request,
            ChangeRequest.State.STALE,
            actor,
            "change_request.stale",
            live_release=live.number if live else None,
            config_revision=environment.config_revision,
        )
        return ChangeRequest.State.STALE
    release = releases.release_approved(
        environment,
        kind=request.kind,
        version=request.version,
        revision=request.config_revision,
        source_name=request.source_environment,
        rollback_of=request.rollback_of,
        actor=actor,
    )
    request.release = release
    request.break_glass = break_glass
    request.break_glass_reason = reason if break_glass else ""
    request.save(update_fields=["release", "break_glass", "break_glass_reason"])
    _close(
        request,
        ChangeRequest.State.APPLIED,
        actor,
        "change_request.break_glass" if break_glass else "change_request.apply",
        release=release.number,
        **({"reason": reason} if break_glass else {}),
    )
    return Applied(request, release)


def apply_change_request(
    *, change_request: ChangeRequest, actor: Actor, break_glass: bool = False, reason: str = ""
) -> Applied:
    """Release the request's target, if approved (or by break-glass: the caller checked the
    owner role) and if the environment still runs its base. A stale or expired request is
    closed as such (committed) and refused with 409."""
    if break_glass:
        reason = _reason(reason)
        if len(reason) < MIN_BREAK_GLASS_REASON:
            raise Invalid(
                f"Say why in at least {MIN_BREAK_GLASS_REASON} characters: break-glass skips "
                "the review.",
                field="reason",
            )
    outcome = _apply(change_request, actor, break_glass, reason)
    if outcome == ChangeRequest.State.STALE:
        raise Conflict(
            f"{change_request.environment.name} changed since request {change_request.pk} was "
            "opened: it is stale and nothing went live. Request again from the current state.",
            code="stale",
        )
    if outcome == ChangeRequest.State.EXPIRED:
        raise _expired(change_request)
    return outcome


# Expiry ---------------------------------------------------------------------------------------


def expire_change_requests(now: datetime | None = None) -> int:
    """Close the open requests past their expiry (audited change_request.expire), each under
    its environment's lock; returns how many. Safe to run from several servers at once."""
    now = now or timezone.now()
    actor = Actor.system("expire_change_requests")
    expired = 0
    for pk in selectors.expired_change_request_ids(now):
        with transaction.atomic(durable=True):
            request, _ = _locked(ChangeRequest(pk=pk, environment_id=_environment_id(pk)))
            if request.state == ChangeRequest.State.OPEN and request.expires_at <= now:
                _close(request, ChangeRequest.State.EXPIRED, actor, "change_request.expire")
                expired += 1
    return expired


def _environment_id(pk: int) -> int:
    return ChangeRequest.objects.values_list("environment_id", flat=True).get(pk=pk)


# Again, from the current state ----------------------------------------------------------------


def request_again(*, change_request: ChangeRequest, actor: Actor) -> ChangeRequest:
    """A new request for the same release as a stale (or expired, rejected, cancelled) one,
    from the environment's current state, through the release entries (their checks again)."""
    request = change_request
    environment = request.environment
    common = {"actor": actor, "reason": request.reason, "may_release": False}
    if request.kind == ChangeRequest.Kind.DEPLOY:
        opened = releases.deploy_version(environment=environment, version=request.version, **common)
    elif request.kind == ChangeRequest.Kind.PROMOTE:
        source = selectors.get_environment(environment.deployment, request.source_environment)
        opened = releases.promote(
            source=source,
            version_number=request.version.number,
            expected_target_version=releases.ANY_VERSION,
            target_id=environment.pk,
            **common,
        )
    elif request.kind == ChangeRequest.Kind.APPLY:
        opened = releases.apply_changes(environment=environment, **common)
    else:
        restore = request.config_revision != request.base_revision
        opened = releases.rollback(
            environment=environment,
            release=request.rollback_of,
            config="restore" if restore else "keep",
            **common,
        )
    assert isinstance(opened, ChangeRequest)  # may_release=False never releases
    return opened


# Reveal ---------------------------------------------------------------------------------------


def reveal_change_values(
    *, change_request: ChangeRequest, keys: list[str], actor: Actor
) -> dict[str, tuple[str | None, str | None]]:
    """The plain values of `keys` (variables that are not and never were secret in either
    configuration) as live now and as the request would make them: (before, after). Audited
    as a reveal first, in the same transaction (fail-closed)."""
    request = change_request
    environment = request.environment
    live = environment.live_release
    before_revision = live.config_revision if live else None
    with transaction.atomic(durable=True):
        audit.record(
            "variable.reveal",
            actor=actor,
            environment=environment,
            target=",".join(keys)[:300],
            detail={"count": len(keys), "request": request.pk},
        )
        keyring = crypto.get_keyring()

        def values_at(revision: int | None) -> dict[str, ConfigEntry]:
            if revision is None:
                return {}
            entries = selectors.entries_at(environment, revision).filter(
                kind=ConfigEntry.Kind.VARIABLE, key__in=keys
            )
            return {e.key: e for e in entries}

        before, after = values_at(before_revision), values_at(request.config_revision)
        shown: dict[str, tuple[str | None, str | None]] = {}
        for key in keys:
            pair = [before.get(key), after.get(key)]
            if any(entry is not None and entry.is_secret for entry in pair):
                continue  # a secret is never shown, nor a value it replaced or replaces
            before_value, after_value = (
                None if entry is None else _decrypt(environment, entry, keyring) for entry in pair
            )
            shown[key] = (before_value, after_value)
        return shown


def _decrypt(environment: Environment, entry: ConfigEntry, keyring) -> str:
    return crypto.decrypt(
        entry.ciphertext,
        context=crypto.entry_context(
            environment.deployment_id, environment.pk, entry.kind, entry.key, entry.set_revision
        ),
        keyring=keyring,
    )
