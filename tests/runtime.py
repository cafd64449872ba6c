"""Test helper: what a runtime instance gets at boot, raw, for assertions on the configuration
itself (the runtime endpoint's own tests go through the endpoint)."""

from __future__ import annotations

from environments import crypto, selectors
from environments.models import Environment


def runtime_env(environment: Environment) -> dict[str, str]:
    """The live release's variables, secrets, bindings and domains, raw, with MIOSA_*.

    Raises crypto.DecryptionError if any value cannot be decrypted (never a partial env).
    """
    config = selectors.runtime_config(environment)
    if config.undecryptable:
        raise crypto.DecryptionError(
            f"cannot be decrypted with the configured keys: {', '.join(config.undecryptable)}"
        )
    return config.env
