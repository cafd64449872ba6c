"""Variables and secrets: written encrypted, fingerprinted, within the size limits."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, Sum

from .. import audit, crypto, rules
from ..actors import Actor
from ..errors import Conflict, Invalid, NotFound, TooLarge, Undecryptable, validated
from ..models import Binding, ConfigEntry, Environment, Variable
from .environment_writes import binding_totals, fingerprint_scope, lock_environment
from .revisions import Revision


@dataclass(frozen=True)
class VariableInput:
    key: str
    value: str
    is_secret: bool | None = None  # None: keep the existing kind (new variables are plain)


def check_variables(
    environment: Environment, items: list[VariableInput], *, fields: list[str] | None = None
) -> dict[str, Variable]:
    """Everything that would refuse writing `items` (keys, values, binding clashes, kinds,
    limits), in a fixed number of queries; returns the existing variables by key. An import's
    dry run calls it alone, so it is refused exactly as the import would be. `fields`, when
    given, is what an error names for each item (an import's line, say)."""
    seen: set[str] = set()

    def field_of(position: int, name: str) -> str:
        if fields is not None:
            return fields[position]
        return name if len(items) == 1 else f"variables[{position}].{name}"

    for position, item in enumerate(items):
        field = field_of(position, "key")
        key = validated(rules.validate_new_key, item.key, field=field)
        if key in seen:
            raise Invalid(f"{key} appears twice in the request.", code="duplicate_key", field=field)
        seen.add(key)
        validated(
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
    # Bindings count too (SPEC §12); their variable names never equal a key in `items`.
    binding_count, binding_size = binding_totals(environment)
    other_count = (totals["count"] or 0) + binding_count
    new_size = sum(len(item.value.encode()) for item in items)
    if other_count + len(items) > rules.MAX_KEYS_PER_ENVIRONMENT:
        raise TooLarge(
            f"{environment.name} would have more than {rules.MAX_KEYS_PER_ENVIRONMENT} "
            "variables and bindings; that is the limit.",
            code="too_many_variables",
        )
    if (totals["size"] or 0) + binding_size + new_size > rules.MAX_ENVIRONMENT_BYTES:
        raise TooLarge(
            # The limit only: the total would tell the size of the other values, secrets too.
            f"The values of {environment.name} would exceed the limit of "
            f"{rules.MAX_ENVIRONMENT_BYTES} bytes (64 KiB) in total.",
            code="environment_too_large",
        )
    return existing


def write_variables(
    environment: Environment, items: list[VariableInput], actor: Actor
) -> list[tuple[Variable, bool]]:
    """Validate every item, then write them all; the caller holds the environment lock."""
    deployment = environment.deployment
    existing = check_variables(environment, items)
    revision = Revision(environment, actor)
    keyring = revision.keyring
    scope = fingerprint_scope(deployment.pk)
    written: list[tuple[Variable, bool]] = []
    now = revision.now
    for item in items:
        key = item.key.strip()
        ciphertext = crypto.encrypt(
            item.value,
            context=Variable.context_for(environment, key),
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
        revision.set(
            ConfigEntry.Kind.VARIABLE,
            key,
            value=item.value,
            fingerprint=fp,
            is_secret=written[-1][0].is_secret,
        )
        audit.record(
            "variable.create" if current is None else "variable.update",
            actor=actor,
            environment=environment,
            target=key,
            detail={"is_secret": written[-1][0].is_secret, "revision": revision.number},
        )
    revision.finish()
    return written


@transaction.atomic(durable=True)
def add_variable(
    *, environment: Environment, key: str, value: str, is_secret: bool, actor: Actor
) -> Variable:
    """Create one variable. An existing key is refused (409), not replaced: an "Add" form must
    not silently overwrite a secret someone else set."""
    environment = lock_environment(environment)
    clean_key = key.strip() if isinstance(key, str) else key
    if Variable.objects.filter(environment=environment, key=clean_key).exists():
        raise Conflict(
            f"{environment.name} already has {clean_key}. Use Edit to replace its value.",
            code="variable_exists",
            field="key",
        )
    return write_variables(environment, [VariableInput(key, value, is_secret)], actor)[0][0]


@transaction.atomic
def set_variable(
    *,
    environment: Environment,
    key: str,
    value: str,
    is_secret: bool | None,
    actor: Actor,
) -> tuple[Variable, bool]:
    """Create or replace one variable. Returns (variable, created)."""
    environment = lock_environment(environment)
    return write_variables(environment, [VariableInput(key, value, is_secret)], actor)[0]


@transaction.atomic  # seed_demo runs it inside its own transaction
def set_variables(
    *, environment: Environment, items: list[VariableInput], actor: Actor
) -> list[tuple[Variable, bool]]:
    """Create or replace several variables, all or nothing."""
    if not items:
        raise Invalid("Give at least one variable.", field="variables")
    environment = lock_environment(environment)
    return write_variables(environment, items, actor)


@transaction.atomic(durable=True)
def mark_variable_secret(*, environment: Environment, key: str, actor: Actor) -> Variable:
    """Turn a plain variable into a secret without changing its value (there is no way back)."""
    environment = lock_environment(environment)
    variable = Variable.objects.filter(environment=environment, key=key).first()
    if variable is None:
        raise NotFound(f"{environment.name} has no variable {key}.")
    if not variable.is_secret:
        variable.is_secret = True
        variable.updated_by = actor.user
        variable.updated_by_label = actor.label
        variable.save(update_fields=["is_secret", "updated_by", "updated_by_label", "updated_at"])
        # What a runtime gets is unchanged (no new revision); its history hides it from now on.
        ConfigEntry.objects.filter(
            environment=environment, kind=ConfigEntry.Kind.VARIABLE, key=key, end_revision=None
        ).update(is_secret=True)
        audit.record("variable.make_secret", actor=actor, environment=environment, target=key)
        if environment.deployment.shares_config:
            # What references it is a secret from now on too (SPEC §19).
            from .resolution import settle

            settle(deployment=environment.deployment, actor=actor, environment=environment)
    return variable


@transaction.atomic(durable=True)
def delete_variable(*, environment: Environment, key: str, actor: Actor) -> None:
    environment = lock_environment(environment)
    deleted, _ = Variable.objects.filter(environment=environment, key=key).delete()
    if not deleted:
        raise NotFound(f"{environment.name} has no variable {key}.", field="key")
    revision = Revision(environment, actor)
    revision.delete(ConfigEntry.Kind.VARIABLE, key)
    audit.record(
        "variable.delete",
        actor=actor,
        environment=environment,
        target=key,
        detail={"revision": revision.number},
    )
    revision.finish()


@transaction.atomic(durable=True)
def restore_variable(
    *, environment: Environment, key: str, revision: int, actor: Actor
) -> Variable:
    """Set `key` back to the value it had at `revision`, as a new revision. The value is
    decrypted and re-encrypted here and never leaves the server; a secret stays a secret (and
    a value that was secret then comes back as one)."""
    environment = lock_environment(environment)
    if not isinstance(revision, int) or not 1 <= revision <= environment.config_revision:
        raise NotFound(f"{environment.name} has no config revision {revision}.", field="revision")
    from .. import selectors

    entry = (
        selectors.entries_at(environment, revision)
        .filter(kind=ConfigEntry.Kind.VARIABLE, key=key)
        .first()
    )
    if entry is None:
        raise NotFound(
            f"{key} had no value in {environment.name} at revision {revision}.", field="revision"
        )
    try:
        value = crypto.decrypt(
            entry.ciphertext,
            context=crypto.entry_context(
                environment.deployment_id, environment.pk, entry.kind, key, entry.set_revision
            ),
            keyring=crypto.get_keyring(),
        )
    except crypto.DecryptionError:
        raise Undecryptable(
            f"{key} at revision {revision} cannot be decrypted with the configured keys; "
            "nothing was restored."
        ) from None
    variable, _ = write_variables(
        environment, [VariableInput(key, value, True if entry.is_secret else None)], actor
    )[0]
    audit.record(
        "variable.restore",
        actor=actor,
        environment=environment,
        target=key,
        detail={"from_revision": revision, "revision": environment.config_revision},
    )
    return variable
