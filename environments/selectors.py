"""Reads. Permission-scoped getters raise Http404 for outsiders and PermissionDenied for a role
that is too low; list queries run a fixed number of SQL queries however many rows there are."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.db.models import Count, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from . import crypto, rules
from .models import (
    AuditEvent,
    Binding,
    ConfigEntry,
    Deployment,
    Environment,
    Membership,
    Release,
    Role,
    RuntimeInstance,
    Variable,
)
from .permissions import has_role


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


def get_deployment_for_user(user, deployment_id: int, *, need: str = Role.VIEWER) -> Deployment:
    """The deployment, with `.role` set to the user's role on it."""
    if not user or not user.is_authenticated:
        raise Http404("No such deployment.")
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
    deployment.role = role
    return deployment


def get_environment(deployment: Deployment, name: str) -> Environment:
    environment = (
        Environment.objects.select_related("deployment", "active_version", "promotes_to")
        .filter(deployment=deployment, name=name)
        .first()
    )
    if environment is None:
        raise Http404("No such environment.")
    environment.deployment = deployment
    return environment


def get_environment_for_user(
    user, deployment_id: int, name: str, *, need: str = Role.VIEWER
) -> Environment:
    """The environment, with `.role` set; `need` may depend on the environment, so pass a
    callable `need(environment) -> role` when it does (production needs admin to write)."""
    deployment = get_deployment_for_user(user, deployment_id)
    environment = get_environment(deployment, name)
    required = need(environment) if callable(need) else need
    _require(deployment.role, required)
    environment.role = deployment.role
    return environment


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


def environments_in_order(deployment: Deployment) -> list[Environment]:
    environments = Environment.objects.filter(deployment=deployment).only(
        "pk", "name", "deployment_id", "active_version_id", "promotes_to_id"
    )
    return pipeline_order(environments)


def _primary_domain(environment: Environment, apex: str) -> str:
    """The suggested hostname if attached (apex for production), else the first one."""
    hosts = [d.hostname for d in environment.domains.all()]
    if apex:
        suggested = rules.suggested_hostname(environment.name, apex)
        if suggested in hosts:
            return suggested
    return hosts[0] if hosts else ""


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
        .select_related("active_version")
        .annotate(
            variable_count=count(Variable),
            binding_count=count(Binding),
            deployed_at=Subquery(last_change.values("created_at")[:1]),
            deployed_by=Subquery(last_change.values("actor_label")[:1]),
        )
        .prefetch_related("domains")
    )
    by_id = {e.pk: e for e in environments}
    for environment in environments:
        environment.deployment = deployment
        environment.target = by_id.get(environment.promotes_to_id)
        environment.primary_domain = _primary_domain(environment, deployment.apex_domain)
    return pipeline_order(environments)


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


def _variable_row(variable: Variable, environment: Environment, keyring) -> VariableRow:
    preview: str | None
    undecryptable = False
    if variable.is_secret:
        # A secret's preview is constant; it needs no decryption, but we still verify the
        # key id is one we hold so an orphaned value is flagged.
        preview = rules.SECRET_PREVIEW
        try:
            if keyring.key(crypto.key_id_of(variable.ciphertext)) is None:
                undecryptable, preview = True, None
        except crypto.DecryptionError:
            undecryptable, preview = True, None
    else:
        try:
            preview = rules.plain_preview(
                crypto.decrypt(
                    variable.ciphertext,
                    context=Variable.context_for(environment, variable.key),
                    keyring=keyring,
                )
            )
        except crypto.DecryptionError:
            undecryptable, preview = True, None
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
    rows: list[VariableRow] = [
        _variable_row(v, by_id[v.environment_id], keyring)
        for v in Variable.objects.filter(environment__in=by_id)
        .defer("fingerprint")
        .order_by("environment__name", "key")
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

    @property
    def changed_keys(self) -> list[str]:
        return sorted(self.only_left + self.only_right + self.different + self.unknown)


def _fingerprints(environment: Environment) -> dict[str, bytes]:
    prints = {
        v.key: bytes(v.fingerprint)
        for v in Variable.objects.filter(environment=environment).only("key", "fingerprint")
    }
    prints.update(
        {
            b.variable_name: bytes(b.fingerprint)
            for b in Binding.objects.filter(environment=environment).only(
                "variable_name", "fingerprint"
            )
        }
    )
    return prints


def compare_environments(left: Environment, right: Environment) -> Comparison:
    """Which keys exist in one and not the other, and which differ, from keyed fingerprints."""
    a, b = _fingerprints(left), _fingerprints(right)
    same, different, unknown = [], [], []
    for key in sorted(a.keys() & b.keys()):
        fa, fb = a[key], b[key]
        if crypto.fingerprint_key_id(fa) != crypto.fingerprint_key_id(fb):
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
    )


# History, members, audit -----------------------------------------------------------------


def history(environment: Environment, *, limit: int = 100) -> list[Release]:
    return list(
        Release.objects.filter(environment=environment)
        .select_related("from_version", "to_version")
        .order_by("-created_at", "-id")[:limit]
    )


def versions_ran(environment: Environment) -> set[int]:
    """Version ids the environment has ever been switched to (rollback targets)."""
    return set(
        Release.objects.filter(environment=environment).values_list("to_version_id", flat=True)
    )


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
    events = AuditEvent.objects.filter(deployment=deployment)
    if before:
        events = events.filter(id__lt=before)
    if action:
        events = events.filter(action__startswith=action)
    if environment:
        events = events.filter(environment_name=environment)
    if actor:
        events = events.filter(actor_label__icontains=actor)
    return list(events.order_by("-id")[:limit])


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


def runtime_config(environment: Environment, *, decrypt: bool = True) -> RuntimeConfig:
    """What a runtime instance gets at boot: the live release's configuration and version.

    `environment` comes with its deployment and live release (and its version). One query
    for the entries, whatever the history holds; only the live release's values are
    decrypted. With `decrypt=False` the values are left out (a 304 decrypts nothing).
    """
    release = environment.live_release
    revision = served_revision(environment)
    if release is None:  # nothing released: the current configuration
        entries = ConfigEntry.objects.filter(environment=environment, end_revision__isnull=True)
    else:
        entries = entries_at(environment, revision)
    entries = entries.order_by("kind", "key")
    keyring = crypto.get_keyring()
    env: dict[str, str] = {}
    hosts: list[str] = []
    undecryptable: list[str] = []
    for entry in entries:
        if entry.kind == ConfigEntry.Kind.DOMAIN:
            hosts.append(entry.key)
            continue
        if not decrypt:
            continue
        try:
            env[entry.key] = crypto.decrypt(
                entry.ciphertext,
                context=crypto.entry_context(
                    environment.deployment_id,
                    environment.pk,
                    entry.kind,
                    entry.key,
                    entry.set_revision,
                ),
                keyring=keyring,
            )
        except crypto.DecryptionError:
            undecryptable.append(entry.key)
    env = dict(sorted(env.items()))
    env["MIOSA_DEPLOYMENT"] = environment.deployment.name
    env["MIOSA_ENVIRONMENT"] = environment.name
    if release is not None:
        env["MIOSA_VERSION"] = str(release.version.number)
        env["MIOSA_RELEASE"] = str(release.number)
    if hosts:
        env["MIOSA_DOMAINS"] = ",".join(sorted(hosts))
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
    at_live = {
        (e.kind, e.key): e
        for e in rows
        if e.set_revision <= live and (e.end_revision is None or e.end_revision > live)
    }
    at_head = {(e.kind, e.key): e for e in rows if e.end_revision is None}
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
        if 0 < number <= 2**31
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
        )
        for i in RuntimeInstance.objects.filter(
            environment=environment, last_seen_at__gte=since
        ).order_by("-last_seen_at")[:200]
    ]


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
    row = (
        Environment.objects.filter(pk=environment.pk)
        .values("config_revision", "live_release__number", "live_release__config_revision")
        .get()
    )
    number = row["live_release__number"]
    return LiveState(
        live_release=number,
        pending=number is not None
        and row["live_release__config_revision"] < row["config_revision"],
    )


@dataclass(frozen=True)
class ReleaseSummary:
    release: int | None  # the live release's number
    pending: int  # how many keys changed since it (as pending_changes counts them)


def release_summaries(environments: Iterable[Environment]) -> dict[int, ReleaseSummary]:
    """The live release and pending-change count of many environments: two queries at most,
    however many environments and entries (a list must not run pending_changes per row)."""
    from django.db.models import F  # appended section: the module's imports stay as they are

    ids = [e.pk for e in environments]
    states = Environment.objects.filter(pk__in=ids).values(
        "pk", "config_revision", "live_release__number", "live_release__config_revision"
    )
    live: dict[int, int] = {}
    summaries: dict[int, ReleaseSummary] = {}
    for row in states:
        summaries[row["pk"]] = ReleaseSummary(release=row["live_release__number"], pending=0)
        at = row["live_release__config_revision"]
        if at is not None and at < row["config_revision"]:
            live[row["pk"]] = at
    if not live:
        return summaries
    at_live: dict[int, dict] = {pk: {} for pk in live}
    at_head: dict[int, dict] = {pk: {} for pk in live}
    entries = (
        ConfigEntry.objects.filter(environment__in=live)
        .filter(
            Q(end_revision__isnull=True)
            | Q(
                set_revision__lte=F("environment__live_release__config_revision"),
                end_revision__gt=F("environment__live_release__config_revision"),
            )
        )
        .only("pk", "environment_id", "kind", "key", "fingerprint", "set_revision", "end_revision")
    )
    # The same rule as pending_changes, for every environment at once.
    for entry in entries:
        revision = live[entry.environment_id]
        name = (entry.kind, entry.key)
        if entry.set_revision <= revision and (
            entry.end_revision is None or entry.end_revision > revision
        ):
            at_live[entry.environment_id][name] = entry
        if entry.end_revision is None:
            at_head[entry.environment_id][name] = entry
    for pk in live:
        then, now = at_live[pk], at_head[pk]
        changed = sum(
            1
            for name in now.keys() & then.keys()
            if now[name].pk != then[name].pk
            and bytes(now[name].fingerprint) != bytes(then[name].fingerprint)
        )
        count = len(now.keys() - then.keys()) + len(then.keys() - now.keys()) + changed
        summaries[pk] = ReleaseSummary(release=summaries[pk].release, pending=count)
    return summaries
