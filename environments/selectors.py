"""Reads. Permission-scoped getters raise Http404 for outsiders and PermissionDenied for a role
that is too low; list queries run a fixed number of SQL queries however many rows there are."""

from __future__ import annotations

import functools
import heapq
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import (
    Count,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from . import crypto, permissions, rules
from .models import (
    ApiToken,
    AuditChainHead,
    AuditEvent,
    AuditTombstone,
    Binding,
    ConfigEntry,
    Deployment,
    Domain,
    Environment,
    Membership,
    Release,
    Role,
    RuntimeInstance,
    RuntimeToken,
    Variable,
    Version,
)
from .permissions import has_role

# Ids are 64-bit signed integers in the database; a larger one (or a negative one) names nothing
# and must not reach the database, where it is an OverflowError (SQLite) or DataError.
MAX_ID = 2**63 - 1


def _valid_id(value: int) -> int:
    if not 0 < value <= MAX_ID:
        raise Http404("There is nothing at this address.")
    return value


def _require(role: str | None, need: str) -> None:
    if role is None:
        raise Http404("No such deployment.")
    if not has_role(role, need):
        raise PermissionDenied(f"This needs the {need} role or higher; you are {role}.")


def visible_deployments(user) -> QuerySet[Deployment]:
    if not user or not user.is_authenticated:
        return Deployment.objects.none()
    if user.is_superuser:
        return Deployment.objects.all()
    return Deployment.objects.filter(memberships__user=user)


class DeploymentAccess(NamedTuple):
    """A deployment and the role the user holds on it (owner for a superuser); unpacks as
    `deployment, role = get_deployment_for_user(...)`."""

    deployment: Deployment
    role: str


class EnvironmentAccess(NamedTuple):
    """An environment and the role the user holds on its deployment; unpacks as
    `environment, role = get_environment_for_user(...)`."""

    environment: Environment
    role: str


def get_deployment_for_user(
    user, deployment_id: int, *, need: str = Role.VIEWER
) -> DeploymentAccess:
    """The deployment and the user's role on it."""
    if not user or not user.is_authenticated:
        raise Http404("No such deployment.")
    _valid_id(deployment_id)
    if user.is_superuser:
        deployment = Deployment.objects.filter(pk=deployment_id).first()
        role = Role.OWNER if deployment else None
    else:
        membership = (
            Membership.objects.select_related("deployment")
            .filter(deployment_id=deployment_id, user=user)
            .first()
        )
        deployment = membership.deployment if membership else None
        role = membership.role if membership else None
    _require(role, need)
    return DeploymentAccess(deployment=deployment, role=role)


def get_environment(deployment: Deployment, name: str) -> Environment:
    environment = (
        Environment.objects.select_related(
            "deployment", "active_version", "promotes_to", "live_release__version"
        )
        .filter(deployment=deployment, name=name)
        .first()
    )
    if environment is None:
        raise Http404("No such environment.")
    environment.deployment = deployment
    return environment


def get_environment_for_user(
    user, deployment_id: int, name: str, *, need: str = Role.VIEWER
) -> EnvironmentAccess:
    """The environment and the user's role; `need` may depend on the environment, so pass a
    callable `need(environment) -> role` when it does (production needs admin to write)."""
    access = get_deployment_for_user(user, deployment_id)
    environment = get_environment(access.deployment, name)
    required = need(environment) if callable(need) else need
    _require(access.role, required)
    return EnvironmentAccess(environment=environment, role=access.role)


def get_promotion_target(source: Environment) -> Environment:
    """The environment `source` promotes to, with its active version (Http404 without one)."""
    if source.promotes_to_id is None:
        raise Http404(f"{source.name} does not promote to another environment.")
    target = get_object_or_404(
        Environment.objects.select_related("active_version"), pk=source.promotes_to_id
    )
    target.deployment = source.deployment
    return target


def get_variable(environment: Environment, key: str) -> Variable:
    """A variable's metadata (key, secrecy), never its value; Http404 if there is none."""
    variable = get_object_or_404(
        Variable.objects.only("pk", "environment_id", "key", "is_secret"),
        environment=environment,
        key=key,
    )
    variable.environment = environment
    return variable


def get_binding(environment: Environment, pk: int) -> Binding:
    binding = get_object_or_404(
        Binding.objects.defer("ciphertext"), environment=environment, pk=_valid_id(pk)
    )
    binding.environment = environment
    return binding


def get_domain(environment: Environment, pk: int) -> Domain:
    domain = get_object_or_404(Domain, environment=environment, pk=_valid_id(pk))
    domain.environment = environment
    return domain


def get_runtime_token(environment: Environment, pk: int) -> RuntimeToken:
    token = get_object_or_404(RuntimeToken, environment=environment, pk=_valid_id(pk))
    token.environment = environment
    return token


def live_api_token(token_hash: str) -> ApiToken | None:
    """The unrevoked personal API token with that SHA-256, with its user."""
    return (
        ApiToken.objects.select_related("user")
        .filter(token_hash=token_hash, revoked_at__isnull=True)
        .first()
    )


def live_runtime_token(token_hash: str) -> RuntimeToken | None:
    """The unrevoked runtime token with that SHA-256, with its environment, deployment and
    live release (and its version), in one query. On PostgreSQL in plain SQL: the runtime
    fetch runs it for every instance of a fleet, and compiling the ORM's query cost more
    than running it."""
    if connection.vendor != "postgresql":
        return (
            RuntimeToken.objects.select_related(
                "environment__deployment", "environment__live_release__version"
            )
            .filter(token_hash=token_hash, revoked_at__isnull=True)
            .first()
        )
    with connection.cursor() as cursor:
        cursor.execute(_live_runtime_token_sql(), [token_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    (
        token_id,
        name,
        last_used_at,
        expires_at,
        environment_id,
        environment_name,
        config_revision,
        environment_created_at,
        deployment_id,
        deployment_name,
        release_id,
        release_number,
        release_revision,
        version_id,
        version_number,
    ) = row
    db = connection.alias
    deployment = _loaded(Deployment, db, id=deployment_id, name=deployment_name)
    release = None
    if release_id is not None:
        version = _loaded(
            Version, db, id=version_id, deployment_id=deployment_id, number=version_number
        )
        release = _loaded(
            Release,
            db,
            id=release_id,
            environment_id=environment_id,
            number=release_number,
            version_id=version_id,
            config_revision=release_revision,
        )
        Release.version.field.set_cached_value(release, version)
    environment = _loaded(
        Environment,
        db,
        id=environment_id,
        deployment_id=deployment_id,
        name=environment_name,
        live_release_id=release_id,
        config_revision=config_revision,
        created_at=environment_created_at,
    )
    Environment.deployment.field.set_cached_value(environment, deployment)
    Environment.live_release.field.set_cached_value(environment, release)
    token = _loaded(
        RuntimeToken,
        db,
        id=token_id,
        name=name,
        last_used_at=last_used_at,
        expires_at=expires_at,
        environment_id=environment_id,
    )
    RuntimeToken.environment.field.set_cached_value(token, environment)
    return token


def _loaded(model, db: str, **values):
    """A model instance as the ORM loads one (`from_db`: positional, fields not given left
    deferred), cheaper than keyword construction."""
    names = [f.attname for f in model._meta.concrete_fields if f.attname in values]
    return model.from_db(db, names, [values[name] for name in names])


@functools.cache
def _live_runtime_token_sql() -> str:
    token, environment, deployment, release, version = (
        model._meta.db_table for model in (RuntimeToken, Environment, Deployment, Release, Version)
    )
    # Table names come from the models, never from input; the hash is a parameter.
    return f"""
SELECT t.id, t.name, t.last_used_at, t.expires_at,
       e.id, e.name, e.config_revision, e.created_at,
       d.id, d.name,
       r.id, r.number, r.config_revision, v.id, v.number
  FROM "{token}" t
  JOIN "{environment}" e ON e.id = t.environment_id
  JOIN "{deployment}" d ON d.id = e.deployment_id
  LEFT JOIN "{release}" r ON r.id = e.live_release_id
  LEFT JOIN "{version}" v ON v.id = r.version_id
 WHERE t.token_hash = %s AND t.revoked_at IS NULL
"""  # noqa: S608


def get_api_token(user, pk: int) -> ApiToken:
    """One of the user's own API tokens (another user's is a 404 like a missing one)."""
    return get_object_or_404(ApiToken, user=user, pk=_valid_id(pk))


def get_membership(deployment: Deployment, user_id: int) -> Membership:
    return get_object_or_404(
        Membership.objects.select_related("user"),
        deployment=deployment,
        user_id=_valid_id(user_id),
    )


def find_version(deployment: Deployment, number: int) -> Version | None:
    """The deployment's version with that number, or None (a form's answer, not a 404)."""
    if not 0 < number <= MAX_ID:
        return None
    return Version.objects.filter(deployment=deployment, number=number).first()


def find_user(username: str):
    return get_user_model().objects.filter(username=username).first()


def is_member(deployment: Deployment, user) -> bool:
    return Membership.objects.filter(deployment=deployment, user=user).exists()


def visible_deployment_ids(user) -> set[int] | None:
    """Ids of the deployments the user sees; None for a superuser (who sees them all)."""
    if user.is_superuser:
        return None
    return set(visible_deployments(user).values_list("pk", flat=True))


def api_tokens(user) -> list[ApiToken]:
    return list(ApiToken.objects.filter(user=user).order_by("-created_at", "-id"))


def runtime_tokens(environment: Environment) -> list[RuntimeToken]:
    return list(RuntimeToken.objects.filter(environment=environment).order_by("-created_at"))


def domains(environment: Environment) -> list[Domain]:
    return list(Domain.objects.filter(environment=environment).order_by("hostname"))


def audit_actions(deployment: Deployment) -> list[str]:
    """The actions the deployment's log holds, for the filter."""
    return sorted(
        set(
            AuditEvent.objects.filter(deployment=deployment)
            .order_by()
            .values_list("action", flat=True)
            .distinct()
        )
    )


@dataclass(frozen=True)
class DeleteCounts:
    """What deleting an environment deletes with it."""

    variables: int
    bindings: int
    domains: int
    tokens: int


def delete_counts(environment: Environment) -> DeleteCounts:
    def count(model) -> int:
        return model.objects.filter(environment=environment).count()

    return DeleteCounts(
        variables=count(Variable),
        bindings=count(Binding),
        domains=count(Domain),
        tokens=count(RuntimeToken),
    )


@dataclass(frozen=True)
class DeploymentCard:
    """A deployment on the list page, with its environments in pipeline order."""

    deployment: Deployment
    pipeline: list[Environment]


def deployment_cards(user) -> list[DeploymentCard]:
    return [
        DeploymentCard(deployment=d, pipeline=pipeline_order(d.environments.all()))
        for d in deployments_for_user(user)
    ]


@dataclass(frozen=True)
class RecentVersion:
    version: Version
    running_in: list[str]  # names of the environments that run it


def recent_versions(
    deployment: Deployment, environments: list[Environment], *, limit: int = 10
) -> list[RecentVersion]:
    """The newest versions, each with where it runs (one query)."""
    running: dict[int, list[str]] = {}
    for environment in environments:
        if environment.active_version_id:
            running.setdefault(environment.active_version_id, []).append(environment.name)
    versions = (
        Version.objects.filter(deployment=deployment)
        .select_related("created_by")
        .order_by("-number")[:limit]
    )
    return [RecentVersion(version=v, running_in=running.get(v.pk, [])) for v in versions]


def deployments_for_user(user) -> list[Deployment]:
    """Visible deployments with their environments and active versions (3 queries)."""
    environments = Environment.objects.select_related("active_version", "promotes_to").annotate(
        variable_count=Count("variables", distinct=True)
    )
    return list(
        visible_deployments(user)
        .order_by("name")
        .prefetch_related(Prefetch("environments", queryset=environments))
    )


def pipeline_order(environments: Iterable[Environment]) -> list[Environment]:
    """preview/* and custom environments, then staging, then production."""
    return sorted(environments, key=lambda e: (e.pipeline_rank, e.name))


def deployment_environments(deployment: Deployment) -> list[Environment]:
    """Every environment of the deployment, by name, each knowing its deployment (one query)."""
    environments = list(Environment.objects.filter(deployment=deployment).order_by("name"))
    for environment in environments:
        environment.deployment = deployment
    return environments


def environments_in_order(deployment: Deployment) -> list[Environment]:
    environments = Environment.objects.filter(deployment=deployment).only(
        "pk", "name", "deployment_id", "active_version_id", "promotes_to_id"
    )
    return pipeline_order(environments)


# Hostname suggestions: rules.suggested_hostname is asked only here on the page side.


def _suggested_hostname(environment: Environment, apex: str) -> str:
    return rules.suggested_hostname(environment.name, apex) if apex else ""


def _primary_domain(environment: Environment, apex: str) -> str:
    """The suggested hostname if attached (apex for production), else the first one."""
    hosts = [d.hostname for d in environment.domains.all()]
    suggested = _suggested_hostname(environment, apex)
    if suggested and suggested in hosts:
        return suggested
    return hosts[0] if hosts else ""


def domain_suggestion(environment: Environment, domains: Iterable[Domain]) -> str:
    """The hostname the environment page offers to add, or "" when none is due: no apex,
    already attached, or the apex itself outside production."""
    apex = environment.deployment.apex_domain
    suggested = _suggested_hostname(environment, apex)
    if suggested in {d.hostname for d in domains} or (
        suggested == apex and not environment.is_production
    ):
        return ""
    return suggested


@dataclass(frozen=True)
class ApexSuggestion:
    environment: Environment
    host: str
    attached: bool


def apex_suggestions(
    deployment: Deployment, environments: list[Environment]
) -> list[ApexSuggestion]:
    """Per environment (from pipeline_environments), its hostname under the apex."""
    suggestions = []
    for environment in environments:
        host = _suggested_hostname(environment, deployment.apex_domain)
        if host:
            attached = host in {d.hostname for d in environment.domains.all()}
            suggestions.append(ApexSuggestion(environment, host, attached))
    return suggestions


def pipeline_environments(deployment: Deployment) -> list[Environment]:
    """Every environment with what its card shows, in pipeline order (two queries)."""
    last_change = Release.objects.filter(environment=OuterRef("pk")).order_by("-created_at", "-id")

    def count(model) -> Coalesce:
        rows = (
            model.objects.filter(environment=OuterRef("pk"))
            .order_by()
            .values("environment")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return Coalesce(Subquery(rows, output_field=IntegerField()), Value(0))

    environments = list(
        Environment.objects.filter(deployment=deployment)
        .select_related("active_version", "live_release")
        .annotate(
            variable_count=count(Variable),
            binding_count=count(Binding),
            deployed_at=Subquery(last_change.values("created_at")[:1]),
            deployed_by=Subquery(last_change.values("actor_label")[:1]),
        )
        .prefetch_related("domains")
    )
    for environment in environments:
        environment.deployment = deployment
    return pipeline_order(environments)


@dataclass(frozen=True)
class PipelineCard:
    """An environment's card on the pipeline page."""

    environment: Environment
    target: Environment | None  # where it promotes to
    primary_domain: str
    can_promote: bool  # it runs a version its target does not, and the user may deploy there
    in_sync: bool  # its target runs the same version
    pending: PendingChanges | None = None  # changes waiting for an Apply (staged environments)
    can_apply: bool = False  # there are pending changes and the user may apply them


def pipeline_cards(
    deployment: Deployment, environments: list[Environment], *, role: str
) -> list[list[PipelineCard]]:
    """The cards of `pipeline_environments`, in columns: previews and custom environments,
    staging, production (empty columns left out)."""
    by_id = {e.pk: e for e in environments}
    pending = pending_by_environment(environments)
    columns: list[list[PipelineCard]] = [[], [], []]
    for environment in environments:
        target = by_id.get(environment.promotes_to_id)
        version_id = environment.active_version_id
        runs_target_version = target is not None and target.active_version_id == version_id
        columns[environment.pipeline_rank].append(
            PipelineCard(
                environment=environment,
                target=target,
                primary_domain=_primary_domain(environment, deployment.apex_domain),
                can_promote=bool(
                    target is not None
                    and version_id is not None
                    and not runs_target_version
                    and has_role(role, permissions.to_deploy_into(target))
                ),
                in_sync=bool(version_id is not None and runs_target_version),
                pending=pending.get(environment.pk),
                can_apply=environment.pk in pending
                and has_role(role, permissions.to_deploy_into(environment)),
            )
        )
    return [c for c in columns if c]


# Variables -------------------------------------------------------------------------------


@dataclass(frozen=True)
class VariableRow:
    """A variable or binding as pages and the API list it: never a secret value."""

    environment: str
    key: str
    preview: str | None  # None when the stored value cannot be decrypted
    is_secret: bool
    source: str  # "env" or "binding"
    updated_at: datetime
    updated_by: str
    undecryptable: bool = False
    kind: str = ""  # binding kind
    binding_name: str = ""
    pk: int = 0


_VARIABLE_ROW_FIELDS = (
    "pk",
    "environment_id",
    "key",
    "ciphertext",
    "is_secret",
    "updated_at",
    "updated_by_label",
)


def _variable_row(variable: Any, environment: Environment, keyring) -> VariableRow:
    """`variable`: a Variable, or a named tuple of its _VARIABLE_ROW_FIELDS."""
    # Every row is decrypted once, secrets too: a tampered secret, or one stored under a key id
    # whose key was replaced, must list as undecryptable, not as a healthy mask (SPEC §3). A
    # secret's plaintext is dropped at once: its preview is the constant mask.
    preview: str | None
    try:
        value = crypto.decrypt(
            variable.ciphertext,
            context=Variable.context_for(environment, variable.key),
            keyring=keyring,
        )
    except crypto.DecryptionError:
        preview, undecryptable = None, True
    else:
        preview = rules.SECRET_PREVIEW if variable.is_secret else rules.plain_preview(value)
        undecryptable = False
    return VariableRow(
        environment=environment.name,
        key=variable.key,
        preview=preview,
        is_secret=variable.is_secret,
        source="env",
        updated_at=variable.updated_at,
        updated_by=variable.updated_by_label,
        undecryptable=undecryptable,
        pk=variable.pk,
    )


def _binding_row(binding: Binding, environment: Environment, keyring) -> VariableRow:
    try:
        url = crypto.decrypt(
            binding.ciphertext,
            context=Binding.context_for(environment, binding.uid),
            keyring=keyring,
        )
        preview, undecryptable = rules.mask_url(url), False
    except crypto.DecryptionError:
        preview, undecryptable = None, True
    return VariableRow(
        environment=environment.name,
        key=binding.variable_name,
        preview=preview,
        is_secret=True,
        source="binding",
        updated_at=binding.updated_at,
        updated_by=binding.updated_by_label,
        undecryptable=undecryptable,
        kind=binding.kind,
        binding_name=binding.name,
        pk=binding.pk,
    )


def variable_rows(
    environments: list[Environment], *, include_bindings: bool = True
) -> list[VariableRow]:
    """Variables (and bindings) of the given environments of one deployment, previews only.

    Two queries whatever the number of rows.
    """
    if not environments:
        return []
    by_id = {e.pk: e for e in environments}
    keyring = crypto.get_keyring()
    # Named tuples, not model instances: building 500 Variables cost ten times the query
    # itself, and the environment page lists up to 500 (docs/performance.md).
    rows: list[VariableRow] = [
        _variable_row(v, by_id[v.environment_id], keyring)
        for v in Variable.objects.filter(environment__in=by_id)
        .order_by("environment__name", "key")
        .values_list(*_VARIABLE_ROW_FIELDS, named=True)
    ]
    if include_bindings:
        rows += [
            _binding_row(b, by_id[b.environment_id], keyring)
            for b in Binding.objects.filter(environment__in=by_id).defer("fingerprint")
        ]
    rows.sort(key=lambda r: (r.environment, r.key))
    return rows


def reveal_plain_values(
    environments: list[Environment], *, key: str | None = None
) -> dict[tuple[str, str], str]:
    """Raw values of the *plain* variables of `environments` (never secrets or bindings),
    or of the one named `key`.

    Raises crypto.DecryptionError if one cannot be decrypted. The caller audits first.
    """
    by_id = {e.pk: e for e in environments}
    keyring = crypto.get_keyring()
    variables = Variable.objects.filter(environment__in=by_id, is_secret=False)
    if key is not None:
        variables = variables.filter(key=key)
    values = {}
    for variable in variables:
        environment = by_id[variable.environment_id]
        values[(environment.name, variable.key)] = crypto.decrypt(
            variable.ciphertext,
            context=Variable.context_for(environment, variable.key),
            keyring=keyring,
        )
    return values


def runtime_env(environment: Environment) -> dict[str, str]:
    """Everything a runtime instance gets at boot: the live release's variables, secrets,
    bindings and domains, raw, with MIOSA_*.

    Raises crypto.DecryptionError if any value cannot be decrypted (never a partial env).
    """
    config = runtime_config(environment)
    if config.undecryptable:
        raise crypto.DecryptionError(
            f"cannot be decrypted with the configured keys: {', '.join(config.undecryptable)}"
        )
    return config.env


# Compare ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    left: Environment
    right: Environment
    only_left: list[str]
    only_right: list[str]
    same: list[str]
    different: list[str]
    unknown: list[str]  # fingerprints made under different keys (mid-rotation), or undecryptable
    # Secrets and bindings in both, whose same/different is not shown to this user (SPEC §3).
    hidden: list[str] = field(default_factory=list)

    @property
    def changed_keys(self) -> list[str]:
        return sorted(self.only_left + self.only_right + self.different + self.unknown)


def _fingerprints(environment: Environment) -> dict[str, tuple[bytes, bool]]:
    """key -> (fingerprint, whether it is a secret or a binding)."""
    prints = {
        v.key: (bytes(v.fingerprint), v.is_secret)
        for v in Variable.objects.filter(environment=environment).only(
            "key", "fingerprint", "is_secret"
        )
    }
    prints.update(
        {
            b.variable_name: (bytes(b.fingerprint), True)
            for b in Binding.objects.filter(environment=environment).only(
                "variable_name", "fingerprint"
            )
        }
    )
    return prints


def compare_environments(
    left: Environment, right: Environment, *, hide_secrets: bool = False
) -> Comparison:
    """Which keys exist in one and not the other, and which differ, from keyed fingerprints.

    With `hide_secrets` (a user who may not write both sides), a key that is a secret or a
    binding on either side is only "hidden": else a guess set on one side could be checked
    against the other's secret.
    """
    a, b = _fingerprints(left), _fingerprints(right)
    same, different, unknown, hidden = [], [], [], []
    for key in sorted(a.keys() & b.keys()):
        (fa, secret_a), (fb, secret_b) = a[key], b[key]
        if hide_secrets and (secret_a or secret_b):
            hidden.append(key)
        # Fingerprints made under different keys (mid-rotation) cannot be compared.
        elif crypto.fingerprint_key_id(fa) != crypto.fingerprint_key_id(fb):
            unknown.append(key)
        elif fa == fb:
            same.append(key)
        else:
            different.append(key)
    return Comparison(
        left=left,
        right=right,
        only_left=sorted(a.keys() - b.keys()),
        only_right=sorted(b.keys() - a.keys()),
        same=same,
        different=different,
        unknown=unknown,
        hidden=hidden,
    )


# History, members, audit -----------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseRow:
    release: Release
    live: bool
    can_rollback: bool  # an earlier release, and the user may deploy into the environment


def release_rows(
    environment: Environment, *, may_roll_back: bool, before: int | None = None, limit: int = 100
) -> list[ReleaseRow]:
    """The history page's rows, newest first: every release but the live one can be rolled
    back to (its version with its configuration, or with the current one)."""
    live = environment.live_release_id
    return [
        ReleaseRow(release=r, live=r.pk == live, can_rollback=may_roll_back and r.pk != live)
        for r in releases(environment, before=before, limit=limit)
    ]


def members(deployment: Deployment) -> list[Membership]:
    return list(
        Membership.objects.filter(deployment=deployment)
        .select_related("user")
        .order_by("user__username")
    )


def audit_events(
    deployment: Deployment,
    *,
    action: str = "",
    environment: str = "",
    actor: str = "",
    before: int | None = None,
    limit: int = 200,
) -> list[AuditEvent]:
    """Newest first; `before` (an event id) pages back through older events (keyset paging,
    so a page costs the same however deep it is)."""
    events = _filtered_audit_events(
        deployment, action=action, environment=environment, actor=actor, before=before
    )
    return list(events.order_by("-id")[:limit])


def _filtered_audit_events(
    deployment: Deployment, *, action: str, environment: str, actor: str, before: int | None
) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.filter(deployment=deployment)
    if before:
        events = events.filter(id__lt=before)
    if action:
        events = events.filter(action__startswith=action)
    if environment:
        events = events.filter(environment_name=environment)
    if actor:
        events = events.filter(actor_label__icontains=actor)
    return events


AUDIT_CHUNK = 2000  # rows per fetch when streaming the log: memory stays flat however long


def audit_events_for_export(
    deployment: Deployment,
    *,
    action: str = "",
    environment: str = "",
    actor: str = "",
    before: int | None = None,
) -> Iterator[AuditEvent]:
    """The audit page's events with the page's filters, newest first, all of them, streamed:
    one query, fetched AUDIT_CHUNK rows at a time (a server-side cursor on PostgreSQL)."""
    events = _filtered_audit_events(
        deployment, action=action, environment=environment, actor=actor, before=before
    )
    return events.order_by("-id").iterator(chunk_size=AUDIT_CHUNK)


def audit_chain_heads(chain: int | None = None) -> dict[int, AuditChainHead]:
    """Every chain's head (one row per deployment that ever had an event, plus chain 0)."""
    heads = AuditChainHead.objects.all()
    if chain is not None:
        heads = heads.filter(chain=chain)
    return {head.chain: head for head in heads}


def audit_chain_links(chain: int | None = None) -> Iterator[AuditEvent | AuditTombstone]:
    """Every event and tombstone of every chain (or of one), in chain order (chain, seq),
    streamed: the two tables are read by two cursors and merged, so memory stays flat."""
    events = AuditEvent.objects.order_by("chain", "seq").defer("actor", "deployment")
    tombstones = AuditTombstone.objects.order_by("chain", "seq")
    if chain is not None:
        events, tombstones = events.filter(chain=chain), tombstones.filter(chain=chain)
    return heapq.merge(
        events.iterator(chunk_size=AUDIT_CHUNK),
        tombstones.iterator(chunk_size=AUDIT_CHUNK),
        key=lambda row: (row.chain, row.seq),
    )


def audit_chain_named(name: str) -> int | None:
    """The chain of deployment `name`: its id, or, once it is deleted, the chain its last
    events were written to."""
    deployment = Deployment.objects.filter(name=name).values_list("pk", flat=True).first()
    if deployment is not None:
        return deployment
    return (
        AuditEvent.objects.filter(deployment_name=name)
        .exclude(chain=0)
        .order_by("-id")
        .values_list("chain", flat=True)
        .first()
    )


# Releases, config revisions, pending changes (SPEC §9) ------------------------------------


def entries_at(environment: Environment, revision: int) -> QuerySet[ConfigEntry]:
    """The config entries alive at `revision`: the environment's configuration as of then."""
    return ConfigEntry.objects.filter(environment=environment, set_revision__lte=revision).filter(
        Q(end_revision__isnull=True) | Q(end_revision__gt=revision)
    )


def served_revision(environment: Environment) -> int:
    """The config revision a runtime gets: the live release's, else (nothing released yet)
    the current one."""
    release = environment.live_release
    return release.config_revision if release is not None else environment.config_revision


@dataclass(frozen=True)
class RuntimeConfig:
    release: Release | None
    revision: int
    env: dict[str, str]
    undecryptable: list[str]  # keys that cannot be decrypted (never their values)


# The encrypted configuration of an environment at a committed config revision never changes
# (a write makes the next revision; key rotation re-encrypts in place, but what it replaced still
# decrypts until its key leaves the keyring, which makes another keyring). So each process keeps
# the ciphertexts of the revisions it serves, keyed by everything that names them, and a fetch
# only decrypts and serialises. Plaintext is never kept.
RUNTIME_ENTRIES_KEPT = 256
_runtime_entries: OrderedDict[tuple, RuntimeEntries] = OrderedDict()
_runtime_entries_lock = threading.Lock()


@dataclass(frozen=True)
class RuntimeEntries:
    """What a runtime gets at one config revision, still encrypted: (key, sealed value) in the
    order the env is built, and the domains."""

    values: tuple[tuple[str, crypto.Sealed], ...]
    hosts: tuple[str, ...]


def runtime_entries(
    environment: Environment, revision: int | None, keyring: crypto.Keyring
) -> RuntimeEntries:
    """The entries alive at `revision`, from this process's cache or in one query; with
    `revision=None`, the live entries as they are now, read and not kept.

    The key holds the environment's creation time besides its id (SQLite reuses the id of a
    rolled-back row) and the keyring (a removed key makes a re-read, of what rotation wrote).
    """
    cache_key = (environment.pk, environment.created_at, revision, keyring)
    if revision is not None:
        with _runtime_entries_lock:
            cached = _runtime_entries.get(cache_key)
            if cached is not None:
                _runtime_entries.move_to_end(cache_key)
                return cached
    values: list[tuple[str, crypto.Sealed]] = []
    hosts: list[str] = []
    rows = (
        entries_at(environment, revision)
        if revision is not None
        else ConfigEntry.objects.filter(environment=environment, end_revision__isnull=True)
    )
    rows = rows.order_by("kind", "key").values_list("kind", "key", "set_revision", "ciphertext")
    for kind, key, set_revision, ciphertext in rows:
        if kind == ConfigEntry.Kind.DOMAIN:
            hosts.append(key)
            continue
        context = crypto.entry_context(
            environment.deployment_id, environment.pk, kind, key, set_revision
        )
        values.append((key, crypto.seal_for_reading(ciphertext, context=context, keyring=keyring)))
    entries = RuntimeEntries(values=tuple(values), hosts=tuple(sorted(hosts)))
    if revision is None:
        return entries
    with _runtime_entries_lock:
        _runtime_entries[cache_key] = entries
        while len(_runtime_entries) > RUNTIME_ENTRIES_KEPT:
            _runtime_entries.popitem(last=False)
    return entries


def runtime_config(
    environment: Environment, *, decrypt: bool = True, just_read: bool = False
) -> RuntimeConfig:
    """What a runtime instance gets at boot: the live release's configuration and version.

    `environment` comes with its deployment and live release (and its version). One query
    for the entries, whatever the history holds, unless this process has read that revision
    already (none then); only the live release's values are decrypted. With `decrypt=False`
    the values are left out (a 304 decrypts nothing). Before any release, the current
    configuration: kept only when the caller `just_read` the environment (so that its
    config_revision is the current one).
    """
    release = environment.live_release
    revision = served_revision(environment)
    keyring = crypto.get_keyring()
    entries = runtime_entries(
        environment, revision if release is not None or just_read else None, keyring
    )
    env: dict[str, str] = {}
    undecryptable: list[str] = []
    if decrypt:
        for key, sealed in entries.values:
            try:
                env[key] = sealed.decrypt()
            except crypto.DecryptionError:
                undecryptable.append(key)
    env = dict(sorted(env.items()))
    env["MIOSA_DEPLOYMENT"] = environment.deployment.name
    env["MIOSA_ENVIRONMENT"] = environment.name
    if release is not None:
        env["MIOSA_VERSION"] = str(release.version.number)
        env["MIOSA_RELEASE"] = str(release.number)
    if entries.hosts:
        env["MIOSA_DOMAINS"] = ",".join(entries.hosts)
    return RuntimeConfig(
        release=release, revision=revision, env=env, undecryptable=sorted(undecryptable)
    )


@dataclass(frozen=True)
class PendingChanges:
    """What changed since the live release, by name only (never a value)."""

    added: list[str]
    changed: list[str]
    removed: list[str]
    live_revision: int | None
    revision: int

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    @property
    def count(self) -> int:
        return len(self.added) + len(self.changed) + len(self.removed)

    @property
    def names(self) -> list[str]:
        return sorted(self.added + self.changed + self.removed)


def _entry_label(entry: ConfigEntry) -> str:
    return f"domain {entry.key}" if entry.kind == ConfigEntry.Kind.DOMAIN else entry.key


def pending_changes(environment: Environment) -> PendingChanges:
    """Keys added, changed and removed since the live release (one query). "Changed" comes from
    fingerprints, so secrets are compared without being decrypted."""
    head = environment.config_revision
    release = environment.live_release
    if release is None or release.config_revision == head:
        return PendingChanges([], [], [], release.config_revision if release else None, head)
    live = release.config_revision
    rows = list(
        ConfigEntry.objects.filter(environment=environment)
        .filter(Q(end_revision__isnull=True) | Q(set_revision__lte=live, end_revision__gt=live))
        .defer("ciphertext")
    )
    return _pending_from(rows, live, head)


def _pending_from(rows: Iterable[ConfigEntry], live: int, head: int) -> PendingChanges:
    """The difference between the entries alive at `live` and the current ones, among `rows`
    (the entries alive at either)."""
    at_live, at_head = {}, {}
    for e in rows:
        if e.set_revision <= live and (e.end_revision is None or e.end_revision > live):
            at_live[(e.kind, e.key)] = e
        if e.end_revision is None:
            at_head[(e.kind, e.key)] = e
    added = sorted(_entry_label(at_head[k]) for k in at_head.keys() - at_live.keys())
    removed = sorted(_entry_label(at_live[k]) for k in at_live.keys() - at_head.keys())
    changed = sorted(
        _entry_label(at_head[k])
        for k in at_head.keys() & at_live.keys()
        if at_head[k].pk != at_live[k].pk
        and bytes(at_head[k].fingerprint) != bytes(at_live[k].fingerprint)
    )
    return PendingChanges(added, changed, removed, live, head)


def config_keys_at(environment: Environment, revision: int) -> set[str]:
    """The variable names (variables and bindings) a release at `revision` would define."""
    return set(
        entries_at(environment, revision)
        .exclude(kind=ConfigEntry.Kind.DOMAIN)
        .values_list("key", flat=True)
    )


@dataclass(frozen=True)
class KeyHistoryRow:
    """One event in a key's history: never a value."""

    revision: int
    action: str  # "set" or "deleted"
    is_secret: bool
    source: str  # "env" or "binding"
    by: str
    at: datetime
    same_as: int | None  # an earlier revision whose value this one equals (fingerprints)
    restorable: bool  # a variable value that can be restored (not a deletion, not current)


def key_history(environment: Environment, key: str) -> list[KeyHistoryRow]:
    """A key's history, newest first (one query)."""
    entries = list(
        ConfigEntry.objects.filter(environment=environment, key=key)
        .exclude(kind=ConfigEntry.Kind.DOMAIN)
        .defer("ciphertext")
        .order_by("set_revision")
    )
    rows: list[KeyHistoryRow] = []
    seen: dict[bytes, int] = {}
    for entry in entries:
        fingerprint = bytes(entry.fingerprint)
        source = "binding" if entry.kind == ConfigEntry.Kind.BINDING else "env"
        rows.append(
            KeyHistoryRow(
                revision=entry.set_revision,
                action="set",
                is_secret=entry.is_secret,
                source=source,
                by=entry.set_by_label,
                at=entry.set_at,
                same_as=seen.get(fingerprint) if fingerprint else None,
                restorable=(
                    entry.kind == ConfigEntry.Kind.VARIABLE and entry.end_revision is not None
                ),
            )
        )
        if fingerprint:
            seen.setdefault(fingerprint, entry.set_revision)
        if entry.ended == ConfigEntry.Ended.DELETED:
            rows.append(
                KeyHistoryRow(
                    revision=entry.end_revision,
                    action="deleted",
                    is_secret=entry.is_secret,
                    source=source,
                    by=entry.ended_by_label,
                    at=entry.ended_at,
                    same_as=None,
                    restorable=False,
                )
            )
    rows.sort(key=lambda r: (r.revision, r.action == "set"), reverse=True)
    return rows


def releases(
    environment: Environment, *, before: int | None = None, limit: int = 50
) -> list[Release]:
    """Newest first; `before` (a release number) pages back (keyset paging)."""
    rows = Release.objects.filter(environment=environment)
    if before:
        rows = rows.filter(number__lt=before)
    return list(rows.select_related("version", "from_version").order_by("-number")[:limit])


def get_release(environment: Environment, number: int) -> Release:
    release = (
        Release.objects.filter(environment=environment, number=number)
        .select_related("version")
        .first()
        if 0 < number <= rules.MAX_NUMBER
        else None
    )
    if release is None:
        raise Http404(f"{environment.name} has no release {number}.")
    return release


@dataclass(frozen=True)
class InstanceRow:
    instance: str
    release_number: int | None
    version_number: int | None
    config_revision: int | None
    last_seen_at: datetime
    stale: bool  # booted on an older release than the live one: restart to pick it up
    token_name: str = ""  # the runtime token it fetched with


def instances(environment: Environment, *, hours: int = 24) -> list[InstanceRow]:
    """Instances seen in the last `hours`, most recent first (one query)."""
    since = timezone.now() - timedelta(hours=hours)
    live = environment.live_release.number if environment.live_release_id else None
    return [
        InstanceRow(
            instance=i.instance,
            release_number=i.release_number,
            version_number=i.version_number,
            config_revision=i.config_revision,
            last_seen_at=i.last_seen_at,
            stale=live is not None and (i.release_number or 0) < live,
            token_name=i.token_name,
        )
        for i in RuntimeInstance.objects.filter(
            environment=environment, last_seen_at__gte=since
        ).order_by("-last_seen_at")[:200]
    ]


# Pending changes on the pages (environment page, pipeline cards) -------------------------


def pending_by_environment(environments: list[Environment]) -> dict[int, PendingChanges]:
    """The pending changes of each environment that has some (its configuration moved on from
    its live release's), by environment id: one query however many environments and keys."""
    by_id = {e.pk: e for e in environments}
    live_revision = F("environment__live_release__config_revision")
    rows = (
        ConfigEntry.objects.filter(environment__in=by_id, environment__live_release__isnull=False)
        .exclude(environment__config_revision=live_revision)
        .filter(
            Q(end_revision__isnull=True)
            | Q(set_revision__lte=live_revision, end_revision__gt=live_revision)
        )
        .annotate(live_revision=live_revision)
        .only("pk", "environment_id", "kind", "key", "fingerprint", "set_revision", "end_revision")
    )
    grouped: dict[int, list[ConfigEntry]] = {}
    for row in rows:
        grouped.setdefault(row.environment_id, []).append(row)
    return {
        pk: _pending_from(entries, entries[0].live_revision, by_id[pk].config_revision)
        for pk, entries in grouped.items()
    }


def refresh_config_state(environment: Environment) -> Environment:
    """Re-read what a write may have moved (revision, live release, mode) onto `environment`,
    for the notice that follows it (one query)."""
    fresh = (
        Environment.objects.select_related("live_release__version", "active_version")
        .only(
            "pk",
            "config_revision",
            "config_changes",
            "release_count",
            "active_version",
            "live_release",
        )
        .get(pk=environment.pk)
    )
    environment.config_revision = fresh.config_revision
    environment.config_changes = fresh.config_changes
    environment.release_count = fresh.release_count
    environment.active_version = fresh.active_version
    environment.live_release = fresh.live_release
    return environment


# The JSON API's views of releases (SPEC §10) ----------------------------------------------


def variable_row(environment: Environment, key: str) -> VariableRow:
    """One variable as the lists show it (a preview; '••••' for a secret), one query."""
    variable = Variable.objects.filter(environment=environment, key=key).defer("fingerprint").get()
    return _variable_row(variable, environment, crypto.get_keyring())


@dataclass(frozen=True)
class LiveState:
    """Where an environment's configuration stands: its live release and whether committed
    changes wait for an Apply (a staged environment's pending changes)."""

    live_release: int | None
    pending: bool


def live_state(environment: Environment) -> LiveState:
    """Read afresh (one query), for the answer to a write that just committed."""
    environment = refresh_config_state(environment)
    live = environment.live_release
    return LiveState(
        live_release=live.number if live else None,
        pending=live is not None and live.config_revision < environment.config_revision,
    )


@dataclass(frozen=True)
class ReleaseSummary:
    release: int | None  # the live release's number
    pending: int  # how many keys changed since it (as pending_changes counts them)


def release_summaries(environments: Iterable[Environment]) -> dict[int, ReleaseSummary]:
    """The live release and pending-change count of many environments: two queries however
    many environments and entries (a list must not run pending_changes per row)."""
    states = list(
        Environment.objects.filter(pk__in=[e.pk for e in environments])
        .select_related("live_release")
        .only("pk", "config_revision", "live_release__number", "live_release__config_revision")
    )
    moved = [
        e for e in states if e.live_release and e.live_release.config_revision < e.config_revision
    ]
    pending = pending_by_environment(moved) if moved else {}
    return {
        e.pk: ReleaseSummary(
            release=e.live_release.number if e.live_release else None,
            pending=pending[e.pk].count if e.pk in pending else 0,
        )
        for e in states
    }


# Key history page, promotion confirmation (issue 9 UI) ------------------------------------


def missing_required_keys(environment: Environment, revision: int | None = None) -> list[str]:
    """The deployment's required keys that a release of `environment` at `revision` (default:
    its current configuration) would lack: what a deploy or promotion would be refused for."""
    required = environment.deployment.required_keys
    if not required:
        return []
    revision = environment.config_revision if revision is None else revision
    return sorted(set(required) - config_keys_at(environment, revision))


# The JSON API for CI (SPEC §10): versions, environments, bindings, domains ----------------


def versions(
    deployment: Deployment, *, before: int | None = None, limit: int = 50
) -> list[Version]:
    """Newest first; `before` (a version number) pages back (keyset paging). One query."""
    rows = Version.objects.filter(deployment=deployment)
    if before:
        rows = rows.filter(number__lt=before)
    return list(rows.select_related("created_by").order_by("-number")[:limit])


def environments_with_releases(deployment: Deployment) -> list[Environment]:
    """Every environment with its live release (and its version) and promotion target, in
    pipeline order: production, staging, then the others by name. One query."""
    environments = list(
        Environment.objects.filter(deployment=deployment).select_related(
            "promotes_to", "live_release__version"
        )
    )
    for environment in environments:
        environment.deployment = deployment
    return sorted(environments, key=lambda e: (-e.pipeline_rank, e.name))


def binding_rows(environments: list[Environment]) -> list[VariableRow]:
    """The bindings of the given environments, as GET env lists them: the URL masked, never
    the credential. One query however many bindings."""
    by_id = {e.pk: e for e in environments}
    keyring = crypto.get_keyring()
    rows = [
        _binding_row(b, by_id[b.environment_id], keyring)
        for b in Binding.objects.filter(environment__in=by_id).defer("fingerprint")
    ]
    rows.sort(key=lambda r: (r.environment, r.key))
    return rows


def binding_row(binding: Binding) -> VariableRow:
    """One binding as the lists show it (its URL masked), re-read from the database."""
    fresh = Binding.objects.defer("fingerprint").get(pk=binding.pk)
    return _binding_row(fresh, binding.environment, crypto.get_keyring())


def deployment_binding(deployment: Deployment, pk: int) -> Binding:
    """A binding of any environment of the deployment (Http404 otherwise)."""
    binding = get_object_or_404(
        Binding.objects.defer("ciphertext").select_related("environment"),
        environment__deployment=deployment,
        pk=_valid_id(pk),
    )
    binding.environment.deployment = deployment
    return binding


def deployment_domains(environments: list[Environment]) -> list[Domain]:
    """The domains of the given environments, by hostname. One query."""
    by_id = {e.pk: e for e in environments}
    rows = list(Domain.objects.filter(environment__in=by_id).order_by("hostname"))
    for row in rows:
        row.environment = by_id[row.environment_id]
    return rows


def deployment_domain(deployment: Deployment, hostname: str) -> Domain:
    """A domain attached to any environment of the deployment (Http404 otherwise)."""
    domain = get_object_or_404(
        Domain.objects.select_related("environment"),
        environment__deployment=deployment,
        hostname=hostname,
    )
    domain.environment.deployment = deployment
    return domain


def expired_environment_ids(now: datetime | None = None) -> list[int]:
    """Ids of environments whose expires_at is past (protected ones never expire)."""
    return list(
        Environment.objects.filter(expires_at__lte=now or timezone.now())
        .exclude(name__in=rules.PROTECTED_ENVIRONMENTS)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
