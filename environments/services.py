"""Every write. Keyword-only, one verb each, one transaction each, each writing its audit event.

Views, the JSON API, management commands and the admin all call these, so a rule lives here once.
Permission checks (who may call) are the callers' job, through `selectors` and `permissions`;
domain rules (what may happen) are enforced here.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from . import audit, crypto, rules
from .audit import Actor
from .errors import Conflict, Invalid, NotFound, TooLarge, Undecryptable
from .models import (
    ApiToken,
    Binding,
    Deployment,
    Domain,
    Environment,
    Membership,
    Role,
    RuntimeToken,
    Variable,
    Version,
    VersionChange,
    binding_context,
    variable_context,
)


def _check(validator, value, *, field: str):
    try:
        return validator(value)
    except ValidationError as exc:
        code = exc.code or "invalid"
        error = TooLarge if code == "value_too_large" else Invalid
        raise error(exc.messages[0], code=code, field=field) from None


def _lock(environment: Environment) -> Environment:
    """Lock the environment row and return it freshly read: writes to one environment
    serialize on this lock.

    The lock is taken by a query without joins, then the row is read again: on PostgreSQL a
    locking query that joins (select_related) can return the joined columns as they were
    before the lock wait, which would lose a concurrent promotion's update.
    """
    Environment.objects.select_for_update().filter(pk=environment.pk).values_list("pk").get()
    return Environment.objects.select_related("deployment", "active_version").get(pk=environment.pk)


# Deployments and environments ------------------------------------------------------------


@transaction.atomic
def create_deployment(*, name: str, actor: Actor, owner=None) -> Deployment:
    """Create a deployment with its `production` and `staging` environments."""
    name = _check(rules.validate_deployment_name, name, field="name")
    # Deployment names are global; the message does not say whether the holder is one the
    # caller may see (to outsiders a deployment does not exist).
    taken = Conflict(
        f"The name {name} is already taken; choose another.", code="name_taken", field="name"
    )
    if Deployment.objects.filter(name=name).exists():
        raise taken
    try:
        with transaction.atomic():
            deployment = Deployment.objects.create(name=name, created_by=actor.user)
    except IntegrityError:  # a concurrent request took it between the check and the insert
        raise taken from None
    production = Environment.objects.create(deployment=deployment, name=rules.PRODUCTION)
    Environment.objects.create(deployment=deployment, name=rules.STAGING, promotes_to=production)
    owner = owner or actor.user
    if owner is not None:
        Membership.objects.create(deployment=deployment, user=owner, role=Role.OWNER)
    audit.record("deployment.create", actor=actor, deployment=deployment, target=name)
    return deployment


@transaction.atomic
def delete_deployment(*, deployment: Deployment, actor: Actor) -> None:
    audit.record("deployment.delete", actor=actor, deployment=deployment, target=deployment.name)
    Environment.objects.filter(deployment=deployment).update(active_version=None, promotes_to=None)
    VersionChange.objects.filter(environment__deployment=deployment).delete()
    deployment.delete()


def default_promotion_target(deployment: Deployment, name: str) -> Environment | None:
    if name.startswith("preview/"):
        return Environment.objects.filter(deployment=deployment, name=rules.STAGING).first()
    return None


@transaction.atomic
def create_environment(
    *,
    deployment: Deployment,
    name: str,
    actor: Actor,
    copy_from: Environment | None = None,
    promotes_to: Environment | None = None,
) -> Environment:
    """Create a custom environment, empty or with a copy of another one's variables."""
    name = _check(rules.validate_environment_name, name, field="name")
    if Environment.objects.filter(deployment=deployment, name=name).exists():
        raise Conflict(
            f"{deployment.name} already has an environment named {name}.",
            code="name_taken",
            field="name",
        )
    if copy_from is not None and copy_from.deployment_id != deployment.pk:
        raise Invalid("Copy from an environment of the same deployment.", field="copy_from")
    if promotes_to is not None and promotes_to.deployment_id != deployment.pk:
        raise Invalid("Promote to an environment of the same deployment.", field="promotes_to")
    if promotes_to is None:
        promotes_to = default_promotion_target(deployment, name)
    environment = Environment.objects.create(
        deployment=deployment, name=name, promotes_to=promotes_to
    )
    copied = 0
    if copy_from is not None:
        keyring = crypto.get_keyring()
        scope = _scope(deployment)
        new_rows = []
        for source in Variable.objects.filter(environment=copy_from).select_related("environment"):
            try:
                value = crypto.decrypt(source.ciphertext, context=source.context(), keyring=keyring)
            except crypto.DecryptionError:
                raise Undecryptable(
                    f"{source.key} in {copy_from.name} cannot be decrypted with the configured "
                    "keys; nothing was copied.",
                    field="copy_from",
                ) from None
            new_rows.append(
                Variable(
                    environment=environment,
                    key=source.key,
                    is_secret=source.is_secret,
                    size=source.size,
                    ciphertext=crypto.encrypt(
                        value,
                        context=variable_context(deployment.pk, environment.pk, source.key),
                        keyring=keyring,
                    ),
                    fingerprint=crypto.fingerprint(value, scope=scope, keyring=keyring),
                    updated_by=actor.user,
                    updated_by_label=actor.label,
                )
            )
        Variable.objects.bulk_create(new_rows)
        copied = len(new_rows)
    audit.record(
        "environment.create",
        actor=actor,
        environment=environment,
        target=name,
        detail={"copied_from": copy_from.name, "variables": copied} if copy_from else {},
    )
    return environment


@transaction.atomic
def delete_environment(*, environment: Environment, actor: Actor) -> None:
    """Delete a custom environment with its variables, bindings, domains and tokens."""
    environment = _lock(environment)
    if environment.is_protected:
        raise Conflict(
            f"{environment.name} cannot be deleted: every deployment keeps production and staging.",
            code="protected_environment",
        )
    counts = {
        "variables": environment.variables.count(),
        "bindings": environment.bindings.count(),
        "domains": environment.domains.count(),
        "runtime_tokens": environment.runtime_tokens.count(),
    }
    audit.record(
        "environment.delete",
        actor=actor,
        environment=environment,
        target=environment.name,
        detail=counts,
    )
    for source in Environment.objects.filter(promotes_to=environment):
        # Their promotion target disappears with it: on record, not silently.
        audit.record(
            "environment.set_promotion_target",
            actor=actor,
            environment=source,
            target="",
            detail={"reason": f"{environment.name} was deleted"},
        )
    environment.history.all().delete()
    environment.delete()


@transaction.atomic
def set_promotion_target(
    *, environment: Environment, promotes_to: Environment | None, actor: Actor
) -> Environment:
    environment = _lock(environment)
    if promotes_to is not None:
        if promotes_to.deployment_id != environment.deployment_id:
            raise Invalid("Promote to an environment of the same deployment.", field="promotes_to")
        if promotes_to.pk == environment.pk:
            raise Invalid("An environment cannot promote to itself.", field="promotes_to")
        if environment.is_production:
            raise Invalid("Production is the end of the pipeline.", field="promotes_to")
        targets = dict(
            Environment.objects.filter(deployment_id=environment.deployment_id).values_list(
                "pk", "promotes_to_id"
            )
        )
        step, seen = promotes_to.pk, set()
        while step is not None and step not in seen:
            if step == environment.pk:
                raise Invalid(
                    f"{promotes_to.name} already leads back to {environment.name}; a pipeline "
                    "cannot loop.",
                    code="promotion_cycle",
                    field="promotes_to",
                )
            seen.add(step)
            step = targets.get(step)
    environment.promotes_to = promotes_to
    environment.save(update_fields=["promotes_to"])
    audit.record(
        "environment.set_promotion_target",
        actor=actor,
        environment=environment,
        target=promotes_to.name if promotes_to else "",
    )
    return environment


# Variables -------------------------------------------------------------------------------


def _scope(deployment: Deployment) -> str:
    return f"deployment/{deployment.pk}"


@dataclass(frozen=True)
class VariableInput:
    key: str
    value: str
    is_secret: bool | None = None  # None: keep the existing kind (new variables are plain)


def _write_variables(
    environment: Environment, items: list[VariableInput], actor: Actor
) -> list[tuple[Variable, bool]]:
    """Validate every item, then write them all; the caller holds the environment lock."""
    deployment = environment.deployment
    seen: set[str] = set()

    def field_of(position: int, name: str) -> str:
        return name if len(items) == 1 else f"variables[{position}].{name}"

    for position, item in enumerate(items):
        field = field_of(position, "key")
        key = _check(rules.validate_variable_key, item.key, field=field)
        if key in seen:
            raise Invalid(f"{key} appears twice in the request.", code="duplicate_key", field=field)
        seen.add(key)
        _check(
            rules.validate_variable_value,
            item.value,
            field=field_of(position, "value"),
        )
        if item.is_secret is not None and not isinstance(item.is_secret, bool):
            raise Invalid("is_secret must be true or false.", field=field_of(position, "is_secret"))

    existing = {v.key: v for v in Variable.objects.filter(environment=environment, key__in=seen)}
    clashes = set(
        Binding.objects.filter(environment=environment, variable_name__in=seen).values_list(
            "variable_name", flat=True
        )
    )
    for position, item in enumerate(items):
        key = item.key.strip()
        if key in clashes:
            raise Conflict(
                f"{key} is the variable of a data service binding in {environment.name}; "
                "rename or remove the binding first.",
                code="binding_clash",
                field=field_of(position, "key"),
            )
        current = existing.get(key)
        if current is not None and current.is_secret and item.is_secret is False:
            raise Conflict(
                f"{current.key} is a secret and cannot be turned back into a plain variable; "
                "delete it and create it again.",
                code="secret_cannot_become_plain",
                field=field_of(position, "is_secret"),
            )

    totals = (
        Variable.objects.filter(environment=environment)
        .exclude(key__in=seen)
        .aggregate(count=Count("id"), size=Sum("size"))
    )
    other_count = totals["count"] or 0
    new_size = sum(len(item.value.encode()) for item in items)
    if other_count + len(items) > rules.MAX_KEYS_PER_ENVIRONMENT:
        raise TooLarge(
            f"{environment.name} would have {other_count + len(items)} variables; the limit is "
            f"{rules.MAX_KEYS_PER_ENVIRONMENT}.",
            code="too_many_variables",
        )
    if (totals["size"] or 0) + new_size > rules.MAX_ENVIRONMENT_BYTES:
        raise TooLarge(
            f"{environment.name}'s values would total {(totals['size'] or 0) + new_size} bytes; "
            f"the limit is {rules.MAX_ENVIRONMENT_BYTES} bytes (64 KiB).",
            code="environment_too_large",
        )

    keyring = crypto.get_keyring()
    scope = _scope(deployment)
    written: list[tuple[Variable, bool]] = []
    now = timezone.now()
    for item in items:
        key = item.key.strip()
        ciphertext = crypto.encrypt(
            item.value,
            context=variable_context(deployment.pk, environment.pk, key),
            keyring=keyring,
        )
        fp = crypto.fingerprint(item.value, scope=scope, keyring=keyring)
        current = existing.get(key)
        if current is None:
            variable = Variable.objects.create(
                environment=environment,
                key=key,
                is_secret=bool(item.is_secret),
                size=len(item.value.encode()),
                ciphertext=ciphertext,
                fingerprint=fp,
                updated_by=actor.user,
                updated_by_label=actor.label,
            )
            written.append((variable, True))
        else:
            current.ciphertext = ciphertext
            current.fingerprint = fp
            current.size = len(item.value.encode())
            current.is_secret = current.is_secret or bool(item.is_secret)
            current.updated_by = actor.user
            current.updated_by_label = actor.label
            current.updated_at = now
            current.save(
                update_fields=[
                    "ciphertext",
                    "fingerprint",
                    "size",
                    "is_secret",
                    "updated_by",
                    "updated_by_label",
                    "updated_at",
                ]
            )
            written.append((current, False))
        audit.record(
            "variable.create" if current is None else "variable.update",
            actor=actor,
            environment=environment,
            target=key,
            detail={"is_secret": written[-1][0].is_secret},
        )
    return written


@transaction.atomic
def set_variable(
    *,
    environment: Environment,
    key: str,
    value: str,
    is_secret: bool | None,
    actor: Actor,
    create_only: bool = False,
) -> tuple[Variable, bool]:
    """Create or replace one variable. Returns (variable, created).

    With `create_only`, an existing key is refused (409) instead of replaced: an "Add" form
    must not silently overwrite a secret someone else set.
    """
    environment = _lock(environment)
    if create_only:
        clean_key = key.strip() if isinstance(key, str) else key
        if Variable.objects.filter(environment=environment, key=clean_key).exists():
            raise Conflict(
                f"{environment.name} already has {clean_key}. Use Edit to replace its value.",
                code="variable_exists",
                field="key",
            )
    return _write_variables(environment, [VariableInput(key, value, is_secret)], actor)[0]


@transaction.atomic
def set_variables(
    *, environment: Environment, items: list[VariableInput], actor: Actor
) -> list[tuple[Variable, bool]]:
    """Create or replace several variables, all or nothing."""
    if not items:
        raise Invalid("Give at least one variable.", field="variables")
    environment = _lock(environment)
    return _write_variables(environment, items, actor)


@transaction.atomic
def update_variable_metadata(
    *, environment: Environment, key: str, is_secret: bool, actor: Actor
) -> Variable:
    """Turn a plain variable into a secret without changing its value (the reverse is refused)."""
    environment = _lock(environment)
    variable = Variable.objects.filter(environment=environment, key=key).first()
    if variable is None:
        raise NotFound(f"{environment.name} has no variable {key}.")
    if variable.is_secret and not is_secret:
        raise Conflict(
            f"{key} is a secret and cannot be turned back into a plain variable.",
            code="secret_cannot_become_plain",
            field="is_secret",
        )
    if is_secret and not variable.is_secret:
        variable.is_secret = True
        variable.updated_by = actor.user
        variable.updated_by_label = actor.label
        variable.save(update_fields=["is_secret", "updated_by", "updated_by_label", "updated_at"])
        audit.record("variable.make_secret", actor=actor, environment=environment, target=key)
    return variable


@transaction.atomic
def delete_variable(*, environment: Environment, key: str, actor: Actor) -> None:
    environment = _lock(environment)
    deleted, _ = Variable.objects.filter(environment=environment, key=key).delete()
    if not deleted:
        raise NotFound(f"{environment.name} has no variable {key}.", field="key")
    audit.record("variable.delete", actor=actor, environment=environment, target=key)


# Versions, deploys, promotions, rollbacks ------------------------------------------------


@transaction.atomic
def create_version(
    *, deployment: Deployment, label: str = "", notes: str = "", actor: Actor
) -> Version:
    deployment = Deployment.objects.select_for_update().get(pk=deployment.pk)
    label = (label or "").strip()
    if len(label) > 200:
        raise Invalid("A label has at most 200 characters.", field="label")
    deployment.last_version_number += 1
    deployment.save(update_fields=["last_version_number"])
    version = Version.objects.create(
        deployment=deployment,
        number=deployment.last_version_number,
        label=label,
        notes=notes or "",
        created_by=actor.user,
    )
    audit.record("version.create", actor=actor, deployment=deployment, target=f"v{version.number}")
    return version


def _activate(
    environment: Environment,
    version: Version,
    *,
    kind: str,
    actor: Actor,
    source: Environment | None = None,
) -> VersionChange:
    change = VersionChange.objects.create(
        environment=environment,
        kind=kind,
        from_version=environment.active_version,
        to_version=version,
        source_environment=source.name if source else "",
        actor=actor.user,
        actor_label=actor.label,
    )
    environment.active_version = version
    environment.save(update_fields=["active_version"])
    before = f"v{change.from_version.number}" if change.from_version else None
    audit.record(
        f"version.{kind}",
        actor=actor,
        environment=environment,
        target=f"v{version.number}",
        detail={"from": before, "to": f"v{version.number}"}
        | ({"source": source.name} if source else {}),
    )
    return change


def _staging_first(target: Environment, version: Version) -> None:
    """Production accepts only a version that is, or once was, active in staging."""
    if not target.is_production:
        return
    staging = Environment.objects.filter(
        deployment_id=target.deployment_id, name=rules.STAGING
    ).first()
    ran_in_staging = staging is not None and (
        staging.active_version_id == version.pk
        or VersionChange.objects.filter(environment=staging, to_version=version).exists()
    )
    if not ran_in_staging:
        raise Conflict(
            f"v{version.number} has never been active in staging. Deploy or promote it to "
            "staging first, then promote it to production.",
            code="staging_first",
        )


@transaction.atomic
def deploy_version(*, environment: Environment, version: Version, actor: Actor) -> VersionChange:
    """Make `version` active in `environment` (a deploy, not a promotion)."""
    environment = _lock(environment)
    if version.deployment_id != environment.deployment_id:
        raise Invalid("That version belongs to another deployment.", field="version")
    if environment.active_version_id == version.pk:
        raise Conflict(f"{environment.name} already runs v{version.number}.", code="already_active")
    _staging_first(environment, version)
    return _activate(environment, version, kind=VersionChange.Kind.DEPLOY, actor=actor)


@transaction.atomic
def promote(
    *,
    source: Environment,
    version_number: int,
    actor: Actor,
    expected_target_version: int | None = None,
    check_target: bool = False,
    target_id: int | None = None,
) -> VersionChange:
    """Copy the source's active version into its target; only the version moves.

    `version_number` is the version the user saw on the source; with `check_target`, the
    target must still run `expected_target_version` (None: nothing) — a stale button, clicked
    after another admin promoted, is refused instead of silently promoting twice.
    `target_id` is the target the caller checked permissions against: if the source was
    re-pointed meanwhile (say, at production), the promotion is refused, not escalated.
    """
    source = Environment.objects.select_related("deployment", "active_version").get(pk=source.pk)
    if source.promotes_to_id is None:
        raise Conflict(f"{source.name} does not promote to another environment.", code="no_target")
    # Lock the target first: concurrent promotions into one environment serialize here.
    target = _lock(Environment(pk=source.promotes_to_id))
    source = Environment.objects.select_related("deployment", "active_version").get(pk=source.pk)
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
    if check_target and current != expected_target_version:
        shown = f"v{expected_target_version}" if expected_target_version else "nothing"
        now = f"v{current}" if current else "nothing"
        raise Conflict(
            f"{target.name} changed while you were looking: it ran {shown} and now runs {now}.",
            code="stale",
        )
    if target.active_version_id == version.pk:
        raise Conflict(f"{target.name} already runs v{version.number}.", code="already_active")
    _staging_first(target, version)
    return _activate(target, version, kind=VersionChange.Kind.PROMOTE, actor=actor, source=source)


@transaction.atomic
def rollback(*, environment: Environment, version: Version, actor: Actor) -> VersionChange:
    """Re-activate a version the environment ran before."""
    environment = _lock(environment)
    if version.deployment_id != environment.deployment_id:
        raise Invalid("That version belongs to another deployment.", field="version")
    if environment.active_version_id == version.pk:
        raise Conflict(f"{environment.name} already runs v{version.number}.", code="already_active")
    if not VersionChange.objects.filter(environment=environment, to_version=version).exists():
        raise Conflict(
            f"{environment.name} has never run v{version.number}; a rollback can only go back "
            "to a version it ran before.",
            code="never_ran",
        )
    return _activate(environment, version, kind=VersionChange.Kind.ROLLBACK, actor=actor)


# Bindings --------------------------------------------------------------------------------


def _binding_variable_clash(environment: Environment, variable_name: str) -> None:
    if Variable.objects.filter(environment=environment, key=variable_name).exists():
        raise Conflict(
            f"{environment.name} already has a variable {variable_name}; a binding cannot use "
            "the same name. Pick another variable name or delete the variable first.",
            code="variable_clash",
            field="variable_name",
        )


@transaction.atomic
def create_binding(
    *,
    environment: Environment,
    kind: str,
    name: str,
    url: str,
    actor: Actor,
    variable_name: str = "",
) -> Binding:
    environment = _lock(environment)
    if kind not in rules.BINDING_KINDS:
        raise Invalid("The kind must be postgres, redis or bucket.", field="kind")
    url = _check(lambda u: rules.validate_binding_url(kind, u), url, field="url")
    variable_name = (variable_name or "").strip() or rules.BINDING_KINDS[kind][0]
    variable_name = _check(rules.validate_variable_key, variable_name, field="variable_name")
    name = (name or "").strip() or f"{environment.deployment.name}-{kind}"
    if len(name) > 100:
        raise Invalid("A name has at most 100 characters.", field="name")
    if Binding.objects.filter(environment=environment, variable_name=variable_name).exists():
        raise Conflict(
            f"{environment.name} already has a binding injected as {variable_name}.",
            code="binding_exists",
            field="variable_name",
        )
    _binding_variable_clash(environment, variable_name)
    keyring = crypto.get_keyring()
    binding = Binding(
        environment=environment,
        kind=kind,
        name=name,
        variable_name=variable_name,
        updated_by=actor.user,
        updated_by_label=actor.label,
    )
    binding.ciphertext = crypto.encrypt(
        url,
        context=binding_context(environment.deployment_id, environment.pk, binding.uid),
        keyring=keyring,
    )
    binding.fingerprint = crypto.fingerprint(
        url, scope=_scope(environment.deployment), keyring=keyring
    )
    binding.save()
    audit.record(
        "binding.create",
        actor=actor,
        environment=environment,
        target=variable_name,
        detail={"kind": kind, "name": name},
    )
    return binding


@transaction.atomic
def update_binding(
    *,
    binding: Binding,
    actor: Actor,
    url: str = "",
    variable_name: str | None = None,
    name: str | None = None,
) -> Binding:
    """Replace a binding's credential (blank keeps it), rename it or its variable."""
    environment = _lock(binding.environment)
    binding = Binding.objects.select_related("environment__deployment").get(pk=binding.pk)
    changed: list[str] = []
    if variable_name is not None and variable_name.strip() != binding.variable_name:
        new_name = _check(rules.validate_variable_key, variable_name, field="variable_name")
        if Binding.objects.filter(environment=environment, variable_name=new_name).exists():
            raise Conflict(
                f"{environment.name} already has a binding injected as {new_name}.",
                code="binding_exists",
                field="variable_name",
            )
        _binding_variable_clash(environment, new_name)
        binding.variable_name = new_name
        changed.append("variable_name")
    if name is not None and name.strip() and name.strip() != binding.name:
        if len(name.strip()) > 100:
            raise Invalid("A name has at most 100 characters.", field="name")
        binding.name = name.strip()
        changed.append("name")
    if url and url.strip():
        url = _check(lambda u: rules.validate_binding_url(binding.kind, u), url, field="url")
        keyring = crypto.get_keyring()
        binding.ciphertext = crypto.encrypt(url, context=binding.context(), keyring=keyring)
        binding.fingerprint = crypto.fingerprint(
            url, scope=_scope(environment.deployment), keyring=keyring
        )
        changed += ["ciphertext", "fingerprint"]
    if not changed:
        return binding
    binding.updated_by = actor.user
    binding.updated_by_label = actor.label
    binding.save(update_fields=[*changed, "updated_by", "updated_by_label", "updated_at"])
    audit.record(
        "binding.update",
        actor=actor,
        environment=environment,
        target=binding.variable_name,
        detail={"changed": [c for c in changed if c != "fingerprint"]},
    )
    return binding


@transaction.atomic
def delete_binding(*, binding: Binding, actor: Actor) -> None:
    environment = _lock(binding.environment)
    audit.record(
        "binding.delete",
        actor=actor,
        environment=environment,
        target=binding.variable_name,
        detail={"kind": binding.kind, "name": binding.name},
    )
    binding.delete()


# Domains ---------------------------------------------------------------------------------


def _domain_taken_message(existing: Domain, visible_deployment_ids: set[int] | None) -> str:
    env = existing.environment
    if visible_deployment_ids is None or env.deployment_id in visible_deployment_ids:
        return f"{existing.hostname} is already attached to {env.deployment.name}/{env.name}."
    return f"{existing.hostname} is already attached to another deployment."


@transaction.atomic
def add_domain(
    *,
    environment: Environment,
    hostname: str,
    actor: Actor,
    visible_deployment_ids: set[int] | None = None,
) -> Domain:
    environment = _lock(environment)
    host = _check(rules.validate_hostname, hostname, field="hostname")
    apex = environment.deployment.apex_domain
    if apex and host == apex and not environment.is_production:
        raise Invalid(
            f"{apex} is the apex domain of {environment.deployment.name}; it may only be "
            "attached to production.",
            code="apex_production_only",
            field="hostname",
        )
    existing = (
        Domain.objects.select_related("environment__deployment").filter(hostname=host).first()
    )
    if existing is not None:
        raise Conflict(
            _domain_taken_message(existing, visible_deployment_ids),
            code="domain_taken",
            field="hostname",
        )
    try:
        with transaction.atomic():
            domain = Domain.objects.create(
                hostname=host, environment=environment, created_by=actor.user
            )
    except IntegrityError:
        raise Conflict(
            f"{host} is already attached.", code="domain_taken", field="hostname"
        ) from None
    audit.record("domain.add", actor=actor, environment=environment, target=host)
    return domain


@transaction.atomic
def remove_domain(*, domain: Domain, actor: Actor) -> None:
    environment = _lock(domain.environment)
    audit.record("domain.remove", actor=actor, environment=environment, target=domain.hostname)
    domain.delete()


@dataclass
class ApexResult:
    apex: str
    attached: list[str]
    skipped: list[str]


@transaction.atomic
def set_apex_domain(
    *,
    deployment: Deployment,
    apex: str,
    actor: Actor,
    visible_deployment_ids: set[int] | None = None,
) -> ApexResult:
    """Set the apex: attach it to production and staging.<apex> to staging, skipping taken ones."""
    deployment = Deployment.objects.select_for_update().get(pk=deployment.pk)
    apex = _check(rules.validate_hostname, apex, field="apex_domain") if apex.strip() else ""
    if apex:
        attached_elsewhere = (
            Domain.objects.filter(hostname=apex)
            .exclude(environment__deployment=deployment, environment__name=rules.PRODUCTION)
            .select_related("environment__deployment")
            .first()
        )
        if attached_elsewhere is not None:
            raise Conflict(
                _domain_taken_message(attached_elsewhere, visible_deployment_ids),
                code="domain_taken",
                field="apex_domain",
            )
    deployment.apex_domain = apex
    deployment.save(update_fields=["apex_domain"])
    audit.record("deployment.set_apex", actor=actor, deployment=deployment, target=apex)
    result = ApexResult(apex=apex, attached=[], skipped=[])
    if not apex:
        return result
    environments = {
        e.name: e
        for e in Environment.objects.filter(
            deployment=deployment, name__in=rules.PROTECTED_ENVIRONMENTS
        )
    }
    for env_name in (rules.PRODUCTION, rules.STAGING):
        host = rules.suggested_hostname(env_name, apex)
        environment = environments[env_name]
        try:
            host = rules.validate_hostname(host)
        except ValidationError:
            result.skipped.append(host)  # e.g. staging.<apex> would exceed 253 characters
            continue
        existing = Domain.objects.filter(hostname=host).first()
        if existing is not None:
            if existing.environment_id != environment.pk:
                result.skipped.append(host)
            continue
        Domain.objects.create(hostname=host, environment=environment, created_by=actor.user)
        audit.record("domain.add", actor=actor, environment=environment, target=host)
        result.attached.append(host)
    return result


# Tokens ----------------------------------------------------------------------------------


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _new_token(prefix: str) -> tuple[str, str, str]:
    body = secrets.token_urlsafe(32)  # 256 bits
    raw = prefix + body
    return raw, hash_token(raw), body[:4]


@transaction.atomic
def create_api_token(*, user, name: str, actor: Actor) -> tuple[ApiToken, str]:
    """Create a personal API token; returns (token, raw). The raw token is never stored."""
    name = (name or "").strip() or "API token"
    raw, digest, hint = _new_token(ApiToken.PREFIX)
    token = ApiToken.objects.create(user=user, name=name[:100], token_hash=digest, hint=hint)
    audit.record("api_token.create", actor=actor, target=f"{user.get_username()}: {token.name}")
    return token, raw


@transaction.atomic
def revoke_api_token(*, token: ApiToken, actor: Actor) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.record("api_token.revoke", actor=actor, target=token.name)


@transaction.atomic
def create_runtime_token(
    *, environment: Environment, name: str, actor: Actor
) -> tuple[RuntimeToken, str]:
    name = (name or "").strip() or f"{environment.name} runtime"
    raw, digest, hint = _new_token(RuntimeToken.PREFIX)
    token = RuntimeToken.objects.create(
        environment=environment,
        name=name[:100],
        token_hash=digest,
        hint=hint,
        created_by=actor.user,
    )
    audit.record("runtime_token.create", actor=actor, environment=environment, target=token.name)
    return token, raw


@transaction.atomic
def revoke_runtime_token(*, token: RuntimeToken, actor: Actor) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.record(
            "runtime_token.revoke", actor=actor, environment=token.environment, target=token.name
        )


def touch_token(token: ApiToken | RuntimeToken) -> None:
    """Record use, at most once a minute per token (a cheap conditional UPDATE)."""
    now = timezone.now()
    if token.last_used_at and (now - token.last_used_at).total_seconds() < 60:
        return
    type(token).objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - timedelta(seconds=60))
    ).update(last_used_at=now)
    token.last_used_at = now


# Members ---------------------------------------------------------------------------------


def _owners_left(deployment: Deployment, *, excluding_user_id: int) -> int:
    return (
        Membership.objects.filter(deployment=deployment, role=Role.OWNER)
        .exclude(user_id=excluding_user_id)
        .count()
    )


@transaction.atomic
def set_member(*, deployment: Deployment, user, role: str, actor: Actor) -> Membership:
    """Add a member or change their role."""
    if role not in Role.values:
        raise Invalid("The role must be viewer, developer, admin or owner.", field="role")
    deployment = Deployment.objects.select_for_update().get(pk=deployment.pk)
    membership = Membership.objects.filter(deployment=deployment, user=user).first()
    if membership is None:
        membership = Membership.objects.create(deployment=deployment, user=user, role=role)
        audit.record(
            "member.add",
            actor=actor,
            deployment=deployment,
            target=user.get_username(),
            detail={"role": role},
        )
        return membership
    if (
        membership.role == Role.OWNER
        and role != Role.OWNER
        and not _owners_left(deployment, excluding_user_id=user.pk)
    ):
        raise Conflict(
            "A deployment needs at least one owner; make someone else owner first.",
            code="last_owner",
            field="role",
        )
    if membership.role != role:
        before = membership.role
        membership.role = role
        membership.save(update_fields=["role"])
        audit.record(
            "member.change_role",
            actor=actor,
            deployment=deployment,
            target=user.get_username(),
            detail={"from": before, "to": role},
        )
    return membership


@transaction.atomic
def remove_member(*, deployment: Deployment, user, actor: Actor) -> None:
    deployment = Deployment.objects.select_for_update().get(pk=deployment.pk)
    membership = Membership.objects.filter(deployment=deployment, user=user).first()
    if membership is None:
        raise NotFound(f"{user.get_username()} is not a member of {deployment.name}.")
    if membership.role == Role.OWNER and not _owners_left(deployment, excluding_user_id=user.pk):
        raise Conflict(
            "A deployment needs at least one owner; make someone else owner first.",
            code="last_owner",
        )
    audit.record("member.remove", actor=actor, deployment=deployment, target=user.get_username())
    membership.delete()


# Reads of raw material (audited before the value leaves the server) ----------------------


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


# Key rotation ----------------------------------------------------------------------------


@dataclass
class RotationResult:
    variables: int = 0
    bindings: int = 0
    unchanged: int = 0


def rotate_encryption_keys(*, actor: Actor, batch_size: int = 200) -> RotationResult:
    """Re-encrypt (and re-fingerprint) every stored value under the first key, in batches.

    Each batch is its own transaction with its rows locked, so the command can run while the
    application serves; an interrupted run resumes where it stopped.
    """
    keyring = crypto.get_keyring()
    primary = keyring.primary_id
    result = RotationResult()
    for model, kind in ((Variable, "variables"), (Binding, "bindings")):
        last_pk = 0
        while True:
            with transaction.atomic():
                batch = list(
                    model.objects.select_for_update(of=("self",))
                    .select_related("environment")
                    .filter(pk__gt=last_pk)
                    .order_by("pk")[:batch_size]
                )
                if not batch:
                    break
                done_before = getattr(result, kind)
                for row in batch:
                    last_pk = row.pk
                    fp_id = bytes(row.fingerprint)[1 : 1 + bytes(row.fingerprint)[0]].decode()
                    if crypto.key_id_of(row.ciphertext) == primary and fp_id == primary:
                        result.unchanged += 1
                        continue
                    try:
                        value = crypto.decrypt(
                            row.ciphertext, context=row.context(), keyring=keyring
                        )
                    except crypto.DecryptionError:
                        raise Undecryptable(
                            f"{model.__name__} {row.pk} cannot be decrypted with the configured "
                            "keys; rotation stopped (rows before it are done)."
                        ) from None
                    row.ciphertext = crypto.encrypt(value, context=row.context(), keyring=keyring)
                    row.fingerprint = crypto.fingerprint(
                        value, scope=f"deployment/{row.environment.deployment_id}", keyring=keyring
                    )
                    model.objects.filter(pk=row.pk).update(
                        ciphertext=row.ciphertext, fingerprint=row.fingerprint
                    )
                    setattr(result, kind, getattr(result, kind) + 1)
                if getattr(result, kind) > done_before:
                    # One event per batch, in the batch's transaction: an interrupted run
                    # leaves exactly the re-encrypted batches on record.
                    audit.record(
                        "keys.rotate",
                        actor=actor,
                        target=primary,
                        detail={kind: getattr(result, kind) - done_before, "through_pk": last_pk},
                    )
    return result


# Compare (added by B) ----------------------------------------------------------------------


@transaction.atomic
def record_compare(
    *, left: Environment, right: Environment, secrets_hidden: bool, actor: Actor, via: str = ""
) -> None:
    """Every compare is audited (SPEC §12): who compared which two environments, and whether
    same/different on secrets and bindings was hidden from them. Names only, never a value."""
    audit.record(
        "environment.compare",
        actor=actor,
        deployment=left.deployment,
        target=f"{left.name}..{right.name}"[:300],
        detail={"left": left.name, "right": right.name, "secrets_hidden": secrets_hidden}
        | ({"via": via} if via else {}),
    )
