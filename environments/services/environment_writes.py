"""What the services that write an environment's configuration share: the row locks and the
order they are taken in, the fingerprint scope, and what its bindings count toward its limits.

The lock order. Every write takes its locks in this order, and all of them before its first
audit event:

1. the deployment's row (`lock_deployment`), by the writes that change the deployment or the
   shape of its pipeline: versions, required keys, the apex domain, members, creating and
   deleting environments, promotion targets, removing a domain (which may clear the apex);
2. environment rows: one (`lock_environment`, which takes the deployment's row first), or
   several only under the deployment's lock (so two writes never take two environments in
   opposite orders); a write whose change reaches other environments (shared groups and
   references) locks them under the deployment's lock, after its first event;
3. rows inside one environment (its data services…);
4. the audit chain's head, last: `audit.record` locks it and holds it to COMMIT.

Rows are locked FOR NO KEY UPDATE (`select_for_update(no_key=True)`): no write here changes a
key, and that mode does not block FOR KEY SHARE, the lock PostgreSQL's foreign-key check takes
on the referenced row. Django's foreign keys are DEFERRABLE INITIALLY DEFERRED, so that check
runs at COMMIT, after the chain's head was taken: a plain FOR UPDATE on the deployment (which
every event references) or on an environment (which releases, values and promotion targets
reference) would make a writer that holds the head wait at COMMIT for one that waits for the
head, a deadlock. Only a DELETE takes FOR UPDATE, and the transaction deleting a row holds
first the locks every writer referencing it takes (an environment: its own row under the
deployment's; a deployment: its row), so nothing that references the row is mid-write then.
"""

from __future__ import annotations

from .. import crypto
from ..errors import NotFound
from ..models import Binding, Deployment, Environment


class DeploymentGone(NotFound, Deployment.DoesNotExist):
    """The deployment was deleted after the caller looked it up: 404, not a server error."""


class EnvironmentGone(NotFound, Environment.DoesNotExist):
    """The environment was deleted after the caller looked it up (a write racing its delete):
    404, not a server error. Still an `Environment.DoesNotExist` for callers that catch that."""


def lock_deployment(deployment: Deployment) -> Deployment:
    """Lock the deployment's row (step 1 of the lock order) and return it freshly read."""
    try:
        return Deployment.objects.select_for_update(no_key=True).get(pk=deployment.pk)
    except Deployment.DoesNotExist:
        raise DeploymentGone("That deployment no longer exists.") from None


def lock_deployment_of(environment: Environment) -> Deployment:
    """Lock the row of the environment's deployment (`environment` may be a bare
    `Environment(pk=…)`); EnvironmentGone if the environment no longer exists."""
    deployment_id = (
        environment.deployment_id
        or Environment.objects.filter(pk=environment.pk)
        .values_list("deployment_id", flat=True)
        .first()
    )
    if deployment_id is None:
        raise EnvironmentGone(f"{environment.name or 'That environment'} no longer exists.")
    return lock_deployment(Deployment(pk=deployment_id))


def lock_environment(environment: Environment) -> Environment:
    """Lock the environment's deployment's row (step 1), then the environment row (step 2),
    and return it freshly read: writes to one deployment's environments serialize on these
    locks. EnvironmentGone (404) if it was deleted.

    The deployment's row first, because a change may reach other environments of the
    deployment (SPEC §19: those whose groups or references read what it changes): the write
    re-resolves them and gives them a revision of their own, so it locks their rows after its
    first audit event. That is safe only because every writer of an environment's row holds
    the deployment's row first, so none of them can hold one of those rows meanwhile.

    The lock is taken by a query without joins, then the row is read again: on PostgreSQL a
    locking query that joins (select_related) can return the joined columns as they were
    before the lock wait, which would lose a concurrent promotion's update.
    """
    lock_deployment_of(environment)
    try:
        Environment.objects.select_for_update(no_key=True).filter(pk=environment.pk).values_list(
            "pk"
        ).get()
    except Environment.DoesNotExist:
        name = environment.name or "That environment"
        raise EnvironmentGone(f"{name} no longer exists; it was deleted.") from None
    return Environment.objects.select_related("deployment", "active_version", "live_release").get(
        pk=environment.pk
    )


def lock_environments(environments: list[Environment]) -> None:
    """Lock several environment rows in one statement, by id (the caller holds the
    deployment's lock: step 2 of the lock order). Those deleted meanwhile are left out."""
    list(
        Environment.objects.select_for_update(no_key=True)
        .filter(pk__in=[e.pk for e in environments])
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def fingerprint_scope(deployment_id: int) -> str:
    """Fingerprints compare within a deployment, never across."""
    return crypto.deployment_scope(deployment_id)


def binding_totals(
    environment: Environment, *, excluding: Binding | None = None
) -> tuple[int, int]:
    """How many bindings the environment has and the UTF-8 size of their URLs: they count toward
    its 500 keys and 64 KiB (SPEC §12). Sizes are read by decrypting (an environment has a few
    bindings), so no stored size can drift or need a backfill; a credential the keys cannot
    decrypt counts its ciphertext's length, which is never less than the URL's."""
    bindings = Binding.objects.filter(environment=environment).select_related("environment")
    if excluding is not None:
        bindings = bindings.exclude(pk=excluding.pk)
    count = size = 0
    keyring = crypto.get_keyring()
    for binding in bindings:
        count += 1
        try:
            size += len(
                crypto.decrypt(
                    binding.ciphertext, context=binding.context(), keyring=keyring
                ).encode()
            )
        except crypto.DecryptionError:
            size += len(bytes(binding.ciphertext))
    return count, size
