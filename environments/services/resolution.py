"""Keeping what shared groups and references resolve to current (SPEC §19).

Every committed change to what a runtime reads (an environment's variables and bindings, a
group's variables, an environment's linked groups) re-resolves, in its own transaction, the
environments it may reach: the one written and every environment that links a group or has
resolved keys. A value that cannot be resolved refuses the write, naming the chain. Each key
whose resolved value (or secrecy) differs from what was written is kept as a config entry of
kind `resolved`; an environment whose resolved keys change gets a revision (the writer's own,
or one of its own: a release at once where changes go live immediately, a pending change where
they are staged), with the cause ("common.API_URL").

The caller holds the deployment's row (every writer of an environment takes it first, see
environment_writes), so the environments reached are locked here, after the writer's audit
event, without a deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .. import audit, crypto, resolver
from ..actors import Actor
from ..errors import Conflict, Forbidden, Invalid, ServiceError, Undecryptable
from ..models import ConfigEntry, Deployment, Environment, Membership
from .environment_writes import fingerprint_scope, lock_environments
from .revisions import Revision


def problem_error(problem: resolver.ReferenceProblem, *, field: str | None = None) -> ServiceError:
    """The service error a refusal of the resolver is answered with."""
    if problem.status == 503:
        return Undecryptable(problem.message, keys=problem.chain[-1:])
    error = Conflict if problem.status == 409 else Invalid
    return error(problem.message, code=problem.code, field=field)


@dataclass(frozen=True)
class Wanted:
    """A resolved entry as it should be."""

    value: str
    fingerprint: bytes
    is_secret: bool
    origin: str
    cause: str


def settle_after_write(revision: Revision) -> None:
    """After a write to an environment's own variables or bindings (Revision.finish)."""
    environment = revision.environment
    deployment = environment.deployment
    if not deployment.shares_config and not revision.saw_reference:
        return  # nothing resolves to anything but itself in this deployment
    settle(
        deployment=deployment,
        actor=revision.actor,
        revision=revision,
        changed={(resolver.ENVIRONMENT, environment.name, key) for key in revision.changed},
    )


def mark_sharing(deployment: Deployment) -> None:
    """From now on the deployment's writes re-resolve (the caller holds its row)."""
    if not deployment.shares_config:
        Deployment.objects.filter(pk=deployment.pk).update(shares_config=True)
        deployment.shares_config = True


def settle(
    *,
    deployment: Deployment,
    actor: Actor,
    revision: Revision | None = None,
    environment: Environment | None = None,
    changed: Iterable[tuple[str, str, str]] = (),
    group: str | None = None,
    because: str = "",
    field: str | None = None,
) -> list[Environment]:
    """Re-resolve what a change may reach; refuse it (ServiceError) if anything cannot be
    resolved. `revision` is the writer's (its environment gets its resolved keys in it);
    `environment` names a written environment without one (a link change, a secret mark);
    `changed` is what was written, as (kind, scope, key), for the causes; `group` a group that
    was written (its own values are checked even if nothing links it). Returns the
    environments given a revision of their own."""
    mark_sharing(deployment)
    written = revision.environment if revision is not None else environment
    world = resolver.World(deployment.pk)
    names = set(world.sharing())
    if written is not None:
        names.add(written.name)
    world.load(environments=names, groups=[group] if group else [])
    try:
        if group is not None:
            world.group(group)
        results = {name: world.environment(name) for name in sorted(names)}
    except resolver.ReferenceProblem as problem:
        raise problem_error(problem, field=field) from None
    changed = set(changed)
    if written is not None:
        _check_read_access(actor, deployment, written.name, results[written.name].values())
    keyring = world.keyring
    scope = fingerprint_scope(deployment.pk)
    ids = {world.environments[name].scope.pk: name for name in names}
    live: dict[str, dict[str, ConfigEntry]] = {name: {} for name in names}
    for entry in resolver.live_resolved_entries(ids):
        live[ids[entry.environment_id]][entry.key] = entry

    plans: dict[str, tuple[dict[str, Wanted], dict]] = {}
    for name in sorted(names):
        wanted: dict[str, Wanted] = {}
        env_scope = world.environments[name].scope
        for key, item in results[name].items():
            raw = item.raw
            if (
                raw.scope == env_scope
                and item.value == raw.text(keyring)
                and item.is_secret == raw.is_secret
            ):
                continue  # the runtime gets the value as written
            causes = sorted(
                f"{scope_name}.{read_key}"
                for kind, scope_name, read_key in item.reads & changed
                if (kind, scope_name, read_key) != (resolver.ENVIRONMENT, name, key)
            )
            wanted[key] = Wanted(
                value=item.value,
                fingerprint=crypto.fingerprint(item.value, scope=scope, keyring=keyring),
                is_secret=item.is_secret,
                origin=item.origin,
                cause=", ".join(causes) or because,
            )
        sources = world.read_revisions(results[name].values(), environment=name)
        plans[name] = (wanted, sources)

    def differs(name: str) -> bool:
        wanted, _ = plans[name]
        current = live[name]
        return wanted.keys() != current.keys() or any(
            bytes(current[key].fingerprint) != w.fingerprint for key, w in wanted.items()
        )

    def flags_differ(name: str) -> bool:
        wanted, _ = plans[name]
        return any(
            key in live[name]
            and (live[name][key].is_secret, live[name][key].origin) != (w.is_secret, w.origin)
            for key, w in wanted.items()
        )

    reached = [
        name
        for name in sorted(names)
        if (written is None or name != written.name) and (differs(name) or flags_differ(name))
    ]
    fresh: dict[str, Environment] = {}
    if reached:
        rows = [Environment(pk=world.environments[n].scope.pk) for n in reached]
        lock_environments(rows)
        for env in Environment.objects.select_related(
            "deployment", "active_version", "live_release"
        ).filter(pk__in=[r.pk for r in rows]):
            fresh[env.name] = env
    if written is not None:
        fresh[written.name] = written

    given: list[Environment] = []
    for name in sorted(fresh):
        env = fresh[name]
        wanted, sources = plans[name]
        current = live[name]
        own = revision if revision is not None and name == written.name else None
        if differs(name):
            rev = own or Revision(env, actor, propagated=True)
            for key in sorted(current.keys() - wanted.keys()):
                rev.delete(ConfigEntry.Kind.RESOLVED, key)
            for key, w in sorted(wanted.items()):
                entry = current.get(key)
                if entry is None or bytes(entry.fingerprint) != w.fingerprint:
                    rev.set(
                        ConfigEntry.Kind.RESOLVED,
                        key,
                        value=w.value,
                        fingerprint=w.fingerprint,
                        is_secret=w.is_secret,
                        origin=w.origin,
                        cause=w.cause,
                    )
            causes = sorted(
                {w.cause for k, w in wanted.items() if w.cause and _moved(k, w, current)}
            )
            if own is None:
                given.append(env)
                _record_propagation(env, rev, wanted, current, causes, actor)
        else:
            rev, causes = None, []
        for key, w in wanted.items():
            entry = current.get(key)
            if (
                entry is not None
                and bytes(entry.fingerprint) == w.fingerprint
                and (entry.is_secret, entry.origin) != (w.is_secret, w.origin)
            ):
                # Same value, other secrecy or group: what a runtime gets is unchanged.
                ConfigEntry.objects.filter(pk=entry.pk).update(
                    is_secret=w.is_secret, origin=w.origin
                )
        env.resolved_count = len(wanted)
        env.resolved_from = sources | (
            {"cause": ", ".join(causes)} if own is None and causes else {}
        )
        Environment.objects.filter(pk=env.pk).update(
            resolved_count=env.resolved_count, resolved_from=env.resolved_from
        )
        if rev is not None and own is None:
            rev.finish()
    return given


def _check_read_access(
    actor: Actor, deployment: Deployment, name: str, resolved: Iterable[resolver.Resolved]
) -> None:
    """A reference into another environment needs read access to it at save (SPEC §19)."""
    others = sorted(
        {
            scope
            for item in resolved
            for kind, scope, _ in item.reads
            if kind == resolver.ENVIRONMENT and scope != name
        }
    )
    user = actor.user
    if not others or user is None or user.is_superuser:
        return
    if not Membership.objects.filter(deployment=deployment, user=user).exists():
        raise Forbidden(
            f"Referencing {', '.join(others)} needs read access to "
            f"{'it' if len(others) == 1 else 'them'}.",
            code="reference_not_readable",
        )


def _moved(key: str, wanted: Wanted, current: dict[str, ConfigEntry]) -> bool:
    entry = current.get(key)
    return entry is None or bytes(entry.fingerprint) != wanted.fingerprint


def _record_propagation(
    environment: Environment,
    revision: Revision,
    wanted: dict[str, Wanted],
    current: dict[str, ConfigEntry],
    causes: list[str],
    actor: Actor,
) -> None:
    keys = sorted(
        {k for k, w in wanted.items() if _moved(k, w, current)} | (current.keys() - wanted.keys())
    )
    audit.record(
        "config.propagate",
        actor=actor,
        environment=environment,
        target=",".join(keys)[:300],
        detail={
            "revision": revision.number,
            "keys": keys[:50],
            "because": causes[:20],
        },
    )


def check_written(*, environment: Environment, values: dict[str, tuple[str, bool] | None]) -> None:
    """Refuse, as writing them would, values that cannot be resolved, without writing anything
    (an import's dry run): `values` stands in for the environment's own variables ({key:
    (value, is_secret)}, None for a removed one)."""
    deployment = environment.deployment
    if not deployment.shares_config and not any(
        v is not None and resolver.has_references(v[0]) for v in values.values()
    ):
        return
    world = resolver.World(deployment.pk, overrides={environment.name: values})
    names = set(world.sharing()) | {environment.name}
    world.load(environments=names)
    try:
        for name in sorted(names):
            world.environment(name)
    except resolver.ReferenceProblem as problem:
        raise problem_error(problem) from None
