"""Versions and releases: deploys, promotions, applies and rollbacks (SPEC §9)."""

from __future__ import annotations

from django.db import transaction

from .. import audit, rules, selectors
from ..actors import Actor
from ..errors import Conflict, Invalid, NotFound, ServiceError, TooLarge, validated
from ..models import ChangeRequest, Deployment, Environment, Release, Version
from . import change_requests
from .environment_writes import EnvironmentGone, lock_deployment, lock_environment
from .environments import create_environment
from .revisions import record_release


class AnyVersion:
    """The type of ANY_VERSION: promote over whatever the target runs (no stale check)."""

    def __repr__(self) -> str:
        return "ANY_VERSION"


ANY_VERSION = AnyVersion()

ROLLBACK_CONFIG = ("restore", "keep")


@transaction.atomic
def create_version(
    *, deployment: Deployment, label: str = "", notes: str = "", actor: Actor
) -> Version:
    deployment = lock_deployment(deployment)
    label = (label or "").strip()
    if len(label) > rules.MAX_VERSION_LABEL:
        raise Invalid(f"A label has at most {rules.MAX_VERSION_LABEL} characters.", field="label")
    notes = notes or ""
    if len(notes.encode("utf-8", "surrogatepass")) > rules.MAX_VERSION_NOTES_BYTES:
        raise TooLarge(
            f"Version notes are at most {rules.MAX_VERSION_NOTES_BYTES} bytes (4 KiB).",
            code="notes_too_large",
            field="notes",
        )
    deployment.last_version_number += 1
    deployment.save(update_fields=["last_version_number"])
    version = Version.objects.create(
        deployment=deployment,
        number=deployment.last_version_number,
        label=label,
        notes=notes,
        created_by=actor.user,
    )
    audit.record("version.create", actor=actor, deployment=deployment, target=f"v{version.number}")
    return version


@transaction.atomic(durable=True)
def register_version(
    *,
    deployment: Deployment,
    label: str = "",
    notes: str = "",
    actor: Actor,
    deploy_to: Environment | None = None,
    new_environment: str = "",
) -> tuple[Version, Environment | None]:
    """Register a version and deploy it to `deploy_to`, or to a new environment named
    `new_environment`, or nowhere: all or nothing. Returns (version, where it was deployed)."""
    # Every lock before the version's audit event takes the chain's head (the lock order,
    # environment_writes): the deployment's row, then the environment deployed to.
    lock_deployment(deployment)
    if deploy_to is not None and not new_environment:
        deploy_to = lock_environment(deploy_to)
    version = create_version(deployment=deployment, label=label, notes=notes, actor=actor)
    if new_environment:
        environment = create_environment(deployment=deployment, name=new_environment, actor=actor)
    elif deploy_to is not None:
        environment = deploy_to
    else:
        return version, None
    try:
        deploy_version(environment=environment, version=version, actor=actor)
    except ServiceError as exc:
        if exc.field is None and not new_environment:
            exc.field = "deploy_to"
        raise
    return version, environment


def _activate(
    environment: Environment,
    version: Version,
    *,
    kind: str,
    actor: Actor,
    source: Environment | None = None,
    revision: int | None = None,
    rollback_of: int | None = None,
) -> Release:
    """A new live release of `version` with the environment's current configuration (or
    `revision`'s); the caller holds the lock."""
    before = environment.active_version
    release = record_release(
        environment,
        version=version,
        kind=kind,
        actor=actor,
        revision=revision,
        source=source,
        rollback_of=rollback_of,
    )
    action = "release.rollback" if kind == Release.Kind.ROLLBACK else f"version.{kind}"
    audit.record(
        action,
        actor=actor,
        environment=environment,
        target=f"v{version.number}",
        detail={
            "from": f"v{before.number}" if before else None,
            "to": f"v{version.number}",
            "release": release.number,
            "config_revision": release.config_revision,
        }
        | ({"source": source.name} if source else {})
        | ({"rollback_of": rollback_of} if rollback_of else {}),
    )
    return release


def _switchable(environment: Environment, version: Version) -> None:
    """A deploy or rollback switches to another version of the same deployment."""
    if version.deployment_id != environment.deployment_id:
        raise Invalid("That version belongs to another deployment.", field="version")
    if environment.active_version_id == version.pk:
        raise Conflict(f"{environment.name} already runs v{version.number}.", code="already_active")


def _staging_first(target: Environment, version: Version) -> None:
    """Production accepts only a version that is, or once was, active in staging."""
    if not target.is_production:
        return
    staging = Environment.objects.filter(
        deployment_id=target.deployment_id, name=rules.STAGING
    ).first()
    ran_in_staging = staging is not None and (
        staging.active_version_id == version.pk
        or Release.objects.filter(environment=staging, version=version).exists()
    )
    if not ran_in_staging:
        raise Conflict(
            f"v{version.number} has never been active in staging. Deploy or promote it to "
            "staging first, then promote it to production.",
            code="staging_first",
        )


@transaction.atomic
def deploy_version(
    *,
    environment: Environment,
    version: Version,
    actor: Actor,
    reason: str = "",
    may_release: bool = True,
) -> Release | ChangeRequest:
    """Make `version` active in `environment` (a deploy, not a promotion); in a protected
    environment, open a change request for it instead (`reason`, `may_release`: see
    change_requests.instead_of_release)."""
    environment = lock_environment(environment)
    _switchable(environment, version)
    _staging_first(environment, version)
    if opened := change_requests.instead_of_release(
        environment,
        kind=Release.Kind.DEPLOY,
        version=version,
        actor=actor,
        reason=reason,
        may_release=may_release,
    ):
        return opened
    return _activate(environment, version, kind=Release.Kind.DEPLOY, actor=actor)


def _reread(environment: Environment) -> Environment:
    """The environment as it is now (not locked); 404 if it was deleted meanwhile."""
    fresh = (
        Environment.objects.select_related("deployment", "active_version")
        .filter(pk=environment.pk)
        .first()
    )
    if fresh is None:
        raise EnvironmentGone(f"{environment.name} no longer exists; it was deleted.")
    return fresh


@transaction.atomic
def promote(
    *,
    source: Environment,
    version_number: int,
    actor: Actor,
    expected_target_version: int | AnyVersion | None,
    target_id: int | None = None,
    reason: str = "",
    may_release: bool = True,
) -> Release | ChangeRequest:
    """Copy the source's active version into its target; only the version moves.

    `version_number` is the version the user saw on the source, and the target must still run
    `expected_target_version` (None: nothing): a stale button, clicked after another admin
    promoted, is refused instead of silently promoting twice. `ANY_VERSION` promotes over
    whatever the target runs when the lock is taken (a CI job that did not say).
    `target_id` is the target the caller checked permissions against: if the source was
    re-pointed meanwhile (say, at production), the promotion is refused, not escalated.
    """
    source = _reread(source)
    if source.promotes_to_id is None:
        raise Conflict(f"{source.name} does not promote to another environment.", code="no_target")
    # Lock the target first: concurrent promotions into one environment serialize here.
    target = lock_environment(Environment(pk=source.promotes_to_id))
    source = _reread(source)
    if source.promotes_to_id != target.pk or (target_id is not None and target.pk != target_id):
        raise Conflict(
            f"{source.name} now promotes to another environment. Review the change again.",
            code="stale",
        )
    version = source.active_version
    if version is None:
        raise Conflict(f"Nothing is deployed in {source.name} yet.", code="nothing_to_promote")
    if version.number != version_number:
        raise Conflict(
            f"{source.name} now runs v{version.number}, not v{version_number}. Review the "
            "change again before promoting.",
            code="stale",
        )
    current = target.active_version.number if target.active_version else None
    if expected_target_version is not ANY_VERSION and current != expected_target_version:
        shown = f"v{expected_target_version}" if expected_target_version else "nothing"
        now = f"v{current}" if current else "nothing"
        raise Conflict(
            f"{target.name} changed while you were looking: it ran {shown} and now runs {now}.",
            code="stale",
        )
    if target.active_version_id == version.pk:
        raise Conflict(f"{target.name} already runs v{version.number}.", code="already_active")
    _staging_first(target, version)
    if opened := change_requests.instead_of_release(
        target,
        kind=Release.Kind.PROMOTE,
        version=version,
        actor=actor,
        reason=reason,
        may_release=may_release,
        source=source,
    ):
        return opened
    return _activate(target, version, kind=Release.Kind.PROMOTE, actor=actor, source=source)


@transaction.atomic(durable=True)
def rollback(
    *,
    environment: Environment,
    release: int,
    config: str,
    actor: Actor,
    reason: str = "",
    may_release: bool = True,
) -> Release | ChangeRequest:
    """Go back to an earlier release: its version and its configuration (`config="restore"`),
    or its version with the current configuration (`config="keep"`). Either way a new
    release; nothing is rewritten, and no value is shown."""
    if config not in ROLLBACK_CONFIG:
        raise Invalid("config is restore or keep.", field="config")
    if not 1 <= release <= rules.MAX_NUMBER:
        # Beyond what the column holds (SQLite cannot even compare it): no such release.
        raise NotFound(f"{environment.name} has no release {release}.", field="release")
    environment = lock_environment(environment)
    target = Release.objects.filter(environment=environment, number=release).first()
    if target is None:
        raise NotFound(f"{environment.name} has no release {release}.", field="release")
    revision = target.config_revision if config == "restore" else environment.config_revision
    live = environment.live_release
    if live is not None and (live.version_id, live.config_revision) == (
        target.version_id,
        revision,
    ):
        raise Conflict(
            f"{environment.name} already runs release {release}'s version and configuration.",
            code="already_active",
        )
    if opened := change_requests.instead_of_release(
        environment,
        kind=Release.Kind.ROLLBACK,
        version=target.version,
        actor=actor,
        reason=reason,
        may_release=may_release,
        revision=revision,
        rollback_of=target.number,
    ):
        return opened
    return _activate(
        environment,
        target.version,
        kind=Release.Kind.ROLLBACK,
        actor=actor,
        revision=revision,
        rollback_of=target.number,
    )


@transaction.atomic(durable=True)
def apply_changes(
    *,
    environment: Environment,
    actor: Actor,
    expected_revision: int | None = None,
    reason: str = "",
    may_release: bool = True,
) -> Release | ChangeRequest:
    """Make the pending changes of a staged environment live: a release of the same version
    with the current configuration. `expected_revision` is the revision the user reviewed."""
    environment = lock_environment(environment)
    live = environment.live_release
    if live is None:
        raise Conflict(
            f"Nothing is deployed in {environment.name} yet; its configuration goes live with "
            "the first deploy.",
            code="nothing_deployed",
        )
    if expected_revision is not None and expected_revision != environment.config_revision:
        raise Conflict(
            f"{environment.name}'s configuration changed while you were looking (config "
            f"{expected_revision} is now {environment.config_revision}). Review it again.",
            code="stale",
        )
    if live.config_revision == environment.config_revision:
        raise Conflict(
            f"{environment.name} has no pending changes to apply.", code="nothing_to_apply"
        )
    if opened := change_requests.instead_of_release(
        environment,
        kind=Release.Kind.APPLY,
        version=environment.active_version,
        actor=actor,
        reason=reason,
        may_release=may_release,
    ):
        return opened
    return _apply(environment, actor)


def _apply(environment: Environment, actor: Actor) -> Release:
    """A release of the live version with the current configuration (the caller holds the
    lock and checked there is something to apply)."""
    release = record_release(
        environment, version=environment.active_version, kind=Release.Kind.APPLY, actor=actor
    )
    audit.record(
        "release.apply",
        actor=actor,
        environment=environment,
        target=f"release {release.number}",
        detail={"release": release.number, "config_revision": release.config_revision},
    )
    return release


def release_approved(
    environment: Environment,
    *,
    kind: str,
    version: Version,
    revision: int,
    source_name: str,
    rollback_of: int | None,
    actor: Actor,
) -> Release:
    """The release an approved change request makes: what its entry above would have made.
    The caller (change_requests.apply_change_request) holds the lock and checked that the
    environment still runs the request's base."""
    if kind == Release.Kind.APPLY:
        return _apply(environment, actor)
    return _activate(
        environment,
        version,
        kind=kind,
        actor=actor,
        revision=revision,
        source=Environment(name=source_name) if source_name else None,
        rollback_of=rollback_of,
    )


@transaction.atomic(durable=True)
def set_config_changes(*, environment: Environment, mode: str, actor: Actor) -> Environment:
    """How config changes go live: `immediate` (each change is a release) or `staged`
    (they wait for an Apply, a deploy or a promotion)."""
    if mode not in Environment.ConfigChanges.values:
        raise Invalid("Config changes go live immediate or staged.", field="config_changes")
    environment = lock_environment(environment)
    if mode == environment.config_changes:
        return environment
    if mode == Environment.ConfigChanges.IMMEDIATE and selectors.is_protected(environment):
        raise Conflict(
            f"{environment.name} is protected: its config changes wait for an apply, which "
            "opens a change request. Turn its protection off first.",
            code="protected",
            field="config_changes",
        )
    live = environment.live_release
    pending = live is not None and live.config_revision != environment.config_revision
    if mode == Environment.ConfigChanges.IMMEDIATE and pending:
        raise Conflict(
            f"{environment.name} has pending changes; apply them before switching to immediate.",
            code="pending_changes",
            field="config_changes",
        )
    environment.config_changes = mode
    environment.save(update_fields=["config_changes"])
    audit.record("environment.config_changes", actor=actor, environment=environment, target=mode)
    return environment


@transaction.atomic(durable=True)
def set_required_keys(*, deployment: Deployment, keys: list[str], actor: Actor) -> list[str]:
    """The keys every release of the deployment must define."""
    if not isinstance(keys, list):
        raise Invalid("Give the required keys as a list of names.", field="keys")
    clean: list[str] = []
    for position, key in enumerate(keys):
        if not isinstance(key, str):
            raise Invalid("Each required key is a name.", field=f"keys[{position}]")
        clean.append(validated(rules.validate_variable_key, key, field=f"keys[{position}]"))
    clean = sorted(set(clean))
    if len(clean) > rules.MAX_KEYS_PER_ENVIRONMENT:
        raise Invalid(f"At most {rules.MAX_KEYS_PER_ENVIRONMENT} required keys.", field="keys")
    deployment = lock_deployment(deployment)
    deployment.required_keys = clean
    deployment.save(update_fields=["required_keys"])
    audit.record(
        "required_keys.set",
        actor=actor,
        deployment=deployment,
        target=",".join(clean)[:300],
        detail={"count": len(clean)},
    )
    return clean
