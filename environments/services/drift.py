"""Fixing drift between two environments: copy keys from one into the other, server-side.

The values are decrypted from the source and encrypted again with the target's context; they
never leave the server, and a secret lands as a secret. Bindings are not copied: a credential
is bound to one environment (SPEC §1). Permission checks (write both, admin for production)
are the callers' job, as for every service.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from .. import audit, crypto, rules
from ..actors import Actor
from ..errors import Conflict, Invalid, NotFound, Undecryptable, validated
from ..models import Binding, Environment, Variable
from .environment_writes import lock_deployment_of, lock_environment, lock_environments
from .variables import VariableInput, write_variables


@dataclass(frozen=True)
class CopyResult:
    """What a copy did: names and numbers, never a value."""

    keys: list[str]
    created: list[str]
    replaced: list[str]
    revision: int
    pending: bool  # the target is staged: the copy waits for an Apply


@transaction.atomic(durable=True)
def copy_keys(
    *, source: Environment, target: Environment, keys: list[str], actor: Actor
) -> CopyResult:
    """Copy `keys` (variables and secrets) from `source` into `target`, as one config revision
    of the target (pending when it is staged), all or nothing."""
    if not isinstance(keys, list) or not keys:
        raise Invalid("Pick at least one key to copy.", field="keys")
    clean: list[str] = []
    for position, key in enumerate(keys):
        if not isinstance(key, str):
            raise Invalid("Each key is a name.", field=f"keys[{position}]")
        clean.append(validated(rules.validate_variable_key, key, field=f"keys[{position}]"))
    clean = sorted(set(clean))
    if len(clean) > rules.MAX_KEYS_PER_ENVIRONMENT:
        raise Invalid(f"Copy at most {rules.MAX_KEYS_PER_ENVIRONMENT} keys at once.", field="keys")
    if source.deployment_id != target.deployment_id:
        raise Invalid("Both environments belong to one deployment.", field="target")
    if source.pk == target.pk:
        raise Invalid("Pick two different environments.", field="target")

    # The lock order (environment_writes): the deployment, then both environments by id.
    lock_deployment_of(target)
    lock_environments([source, target])
    source = lock_environment(source)
    target = lock_environment(target)

    bound = set(
        Binding.objects.filter(environment=source, variable_name__in=clean).values_list(
            "variable_name", flat=True
        )
    )
    if bound:
        raise Conflict(
            f"{', '.join(sorted(bound))[:500]} {'is' if len(bound) == 1 else 'are'} bound to a "
            f"data service in {source.name}; bindings are not copied. Bind a service in "
            f"{target.name} instead.",
            code="binding_not_copied",
            field="keys",
        )
    found = {v.key: v for v in Variable.objects.filter(environment=source, key__in=clean)}
    missing = [key for key in clean if key not in found]
    if missing:
        raise NotFound(f"{source.name} has no variable {', '.join(missing)[:500]}.", field="keys")
    keyring = crypto.get_keyring()
    items: list[VariableInput] = []
    for key in clean:
        variable = found[key]
        try:
            value = crypto.decrypt(
                variable.ciphertext,
                context=Variable.context_for(source, key),
                keyring=keyring,
            )
        except crypto.DecryptionError:
            raise Undecryptable(
                f"{key} in {source.name} cannot be decrypted with the configured keys; "
                "nothing was copied.",
                keys=[key],
            ) from None
        # A secret lands as a secret; a plain value keeps the target's kind (a secret there
        # stays one: it never turns back into a plain variable).
        items.append(VariableInput(key, value, True if variable.is_secret else None))
    written = write_variables(target, items, actor)
    live = target.live_release
    pending = live is not None and live.config_revision != target.config_revision
    result = CopyResult(
        keys=clean,
        created=[v.key for v, created in written if created],
        replaced=[v.key for v, created in written if not created],
        revision=target.config_revision,
        pending=pending,
    )
    audit.record(
        "variable.copy",
        actor=actor,
        environment=target,
        target=",".join(clean)[:300],
        detail={
            "source": source.name,
            "keys": clean[:100],
            "count": len(clean),
            "revision": result.revision,
        },
    )
    return result
