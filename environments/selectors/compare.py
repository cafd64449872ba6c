"""Comparing two environments by keyed fingerprints, never by value."""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import crypto
from ..models import (
    Binding,
    ConfigEntry,
    Environment,
    Variable,
)


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
    # Keys as the runtime gets them (SPEC §19): resolved values, and linked groups' keys.
    if environment.resolved_count:
        prints.update(
            {
                e.key: (bytes(e.fingerprint), e.is_secret)
                for e in ConfigEntry.objects.filter(
                    environment=environment,
                    kind=ConfigEntry.Kind.RESOLVED,
                    end_revision__isnull=True,
                ).only("key", "fingerprint", "is_secret")
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
