"""Data service bindings: an encrypted credential URL injected as one variable."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Count, Sum

from .. import audit, crypto, rules
from ..actors import Actor
from ..errors import Conflict, Invalid, NotFound, TooLarge, Undecryptable, validated
from ..models import Binding, ConfigEntry, DataService, Environment, Variable
from .environment_writes import binding_totals, fingerprint_scope, lock_environment
from .revisions import Revision


def _variable_name_free(environment: Environment, variable_name: str) -> None:
    """A binding's variable name is used by no other binding and no variable of its environment."""
    if Binding.objects.filter(environment=environment, variable_name=variable_name).exists():
        raise Conflict(
            f"{environment.name} already has a binding injected as {variable_name}.",
            code="binding_exists",
            field="variable_name",
        )
    if Variable.objects.filter(environment=environment, key=variable_name).exists():
        raise Conflict(
            f"{environment.name} already has a variable {variable_name}; a binding cannot use "
            "the same name. Pick another variable name or delete the variable first.",
            code="variable_clash",
            field="variable_name",
        )


def _check_bounds(
    environment: Environment, url: str, *, new: bool, replacing: Binding | None = None
) -> None:
    """A binding counts toward the environment's 500 keys and 64 KiB of values (SPEC §12).
    The messages name the limit only, never the size of what is already there."""
    variables = Variable.objects.filter(environment=environment).aggregate(
        count=Count("id"), size=Sum("size")
    )
    binding_count, binding_size = binding_totals(environment, excluding=replacing)
    if new and variables["count"] + binding_count + 1 > rules.MAX_KEYS_PER_ENVIRONMENT:
        raise TooLarge(
            f"{environment.name} would have more than {rules.MAX_KEYS_PER_ENVIRONMENT} "
            "variables and bindings; that is the limit.",
            code="too_many_variables",
        )
    if (variables["size"] or 0) + binding_size + len(url.encode()) > rules.MAX_ENVIRONMENT_BYTES:
        raise TooLarge(
            f"The values of {environment.name} would exceed the limit of "
            f"{rules.MAX_ENVIRONMENT_BYTES} bytes (64 KiB) in total.",
            code="environment_too_large",
            field="url",
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
    data_service: DataService | None = None,
) -> Binding:
    """Bind a credential URL as one variable: a config change (pending in a staged environment,
    a release at once in an immediate one). `data_service`: the binding is that service's
    managed binding (its URL is then not editable)."""
    environment = lock_environment(environment)
    kind = validated(rules.validate_binding_kind, kind, field="kind")
    url = validated(lambda u: rules.validate_binding_url(kind, u), url, field="url")
    variable_name = (variable_name or "").strip() or rules.BINDING_KINDS[kind].variable_name
    variable_name = validated(rules.validate_new_key, variable_name, field="variable_name")
    name = (name or "").strip() or f"{environment.deployment.name}-{kind}"
    if len(name) > 100:
        raise Invalid("A name has at most 100 characters.", field="name")
    _variable_name_free(environment, variable_name)
    _check_bounds(environment, url, new=True)
    keyring = crypto.get_keyring()
    binding = Binding(
        environment=environment,
        kind=kind,
        name=name,
        variable_name=variable_name,
        updated_by=actor.user,
        updated_by_label=actor.label,
        data_service=data_service,
    )
    binding.ciphertext = crypto.encrypt(
        url,
        context=Binding.context_for(environment, binding.uid),
        keyring=keyring,
    )
    binding.fingerprint = crypto.fingerprint(
        url, scope=fingerprint_scope(environment.deployment_id), keyring=keyring
    )
    binding.save()
    revision = Revision(environment, actor)
    revision.set(
        ConfigEntry.Kind.BINDING,
        variable_name,
        value=url,
        fingerprint=binding.fingerprint,
        is_secret=True,
        binding_kind=kind,
        binding_name=name,
    )
    revision.finish()
    audit.record(
        "binding.create",
        actor=actor,
        environment=environment,
        target=variable_name,
        detail={"kind": kind, "name": name} | ({"managed": True} if data_service else {}),
    )
    return binding


def _still_there(binding: Binding) -> Binding:
    """The binding read again; 404 if it went meanwhile (deleted, or with its environment)."""
    fresh = Binding.objects.select_related("environment__deployment").filter(pk=binding.pk).first()
    if fresh is None:
        raise NotFound(f"{binding.variable_name} is no longer bound; it was deleted.")
    return fresh


def _refuse_managed_url(binding: Binding) -> None:
    if binding.managed:
        raise Conflict(
            f"{binding.variable_name} is the credential of a data service MIOSA manages; its URL "
            "cannot be edited. Retry, destroy or detach the data service instead.",
            code="managed_binding",
            field="url",
        )


@transaction.atomic(durable=True)
def update_binding(
    *,
    binding: Binding,
    actor: Actor,
    url: str = "",
    variable_name: str | None = None,
    name: str | None = None,
) -> Binding:
    """Replace a binding's credential (blank keeps it), rename it or its variable."""
    environment = lock_environment(binding.environment)
    binding = _still_there(binding)
    old_variable_name = binding.variable_name
    changed: list[str] = []
    if variable_name is not None and variable_name.strip() != binding.variable_name:
        new_name = validated(rules.validate_new_key, variable_name, field="variable_name")
        _variable_name_free(environment, new_name)
        binding.variable_name = new_name
        changed.append("variable_name")
    if name is not None and name.strip() and name.strip() != binding.name:
        if len(name.strip()) > 100:
            raise Invalid("A name has at most 100 characters.", field="name")
        binding.name = name.strip()
        changed.append("name")
    if url and url.strip():
        _refuse_managed_url(binding)
        url = validated(lambda u: rules.validate_binding_url(binding.kind, u), url, field="url")
        _check_bounds(environment, url, new=False, replacing=binding)
        keyring = crypto.get_keyring()
        binding.ciphertext = crypto.encrypt(url, context=binding.context(), keyring=keyring)
        binding.fingerprint = crypto.fingerprint(
            url, scope=fingerprint_scope(environment.deployment_id), keyring=keyring
        )
        changed += ["ciphertext", "fingerprint"]
    if not changed:
        return binding
    binding.updated_by = actor.user
    binding.updated_by_label = actor.label
    binding.save(update_fields=[*changed, "updated_by", "updated_by_label", "updated_at"])
    if binding.managed and "variable_name" in changed:
        DataService.objects.filter(pk=binding.data_service_id).update(
            variable=binding.variable_name
        )
    revision = Revision(environment, actor)
    if "variable_name" in changed or "ciphertext" in changed:
        if "ciphertext" not in changed:  # renamed only: the same credential under a new name
            try:
                url = crypto.decrypt(
                    binding.ciphertext, context=binding.context(), keyring=revision.keyring
                )
            except crypto.DecryptionError:
                raise Undecryptable(
                    f"{old_variable_name}'s credential cannot be decrypted with the configured "
                    "keys; give a new URL to rename it."
                ) from None
        if "variable_name" in changed:
            revision.delete(ConfigEntry.Kind.BINDING, old_variable_name)
        revision.set(
            ConfigEntry.Kind.BINDING,
            binding.variable_name,
            value=url,
            fingerprint=bytes(binding.fingerprint),
            is_secret=True,
            binding_kind=binding.kind,
            binding_name=binding.name,
        )
    else:  # the service's display name: not part of what a runtime gets
        ConfigEntry.objects.filter(
            environment=environment,
            kind=ConfigEntry.Kind.BINDING,
            key=binding.variable_name,
            end_revision=None,
        ).update(binding_name=binding.name)
    revision.finish()
    audit.record(
        "binding.update",
        actor=actor,
        environment=environment,
        target=binding.variable_name,
        detail={"changed": [c for c in changed if c != "fingerprint"]},
    )
    return binding


@transaction.atomic(durable=True)
def delete_binding(*, binding: Binding, actor: Actor) -> None:
    binding = _still_there(binding)
    if binding.managed:
        raise Conflict(
            f"{binding.variable_name} is the credential of a data service MIOSA manages; "
            "destroy or detach the data service to remove it.",
            code="managed_binding",
        )
    remove_binding(binding=binding, actor=actor)


def remove_binding(*, binding: Binding, actor: Actor) -> None:
    """Delete a binding as a config change, in the caller's transaction (a data service's
    destroy and detach remove their managed binding through here)."""
    environment = lock_environment(binding.environment)
    binding = _still_there(binding)  # a concurrent delete may have been first
    audit.record(
        "binding.delete",
        actor=actor,
        environment=environment,
        target=binding.variable_name,
        detail={"kind": binding.kind, "name": binding.name},
    )
    binding.delete()
    revision = Revision(environment, actor)
    revision.delete(ConfigEntry.Kind.BINDING, binding.variable_name)
    revision.finish()
