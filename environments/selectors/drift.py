"""What the compare page needs to offer a copy: the keys that are bindings (never copied)."""

from __future__ import annotations

from ..models import Binding, Environment


def binding_names(environment: Environment) -> set[str]:
    """The variable names of the environment's data service bindings (one query)."""
    return set(
        Binding.objects.filter(environment=environment).values_list("variable_name", flat=True)
    )
