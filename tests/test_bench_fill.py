"""`make bench`'s 10^6 values are written with COPY, past the ORM's defaults: every NOT NULL
column a migration adds must be in its column list, or the bench fails after minutes of work
(it did, when config entries gained `origin` and `cause`). A small fill, read back through the
product's own reveal services, keeps it in step with the models."""

from __future__ import annotations

from bench import load
from environments import services
from environments.actors import Actor
from environments.models import Environment

from .concurrently import skip_unless_postgres


def test_the_bench_fill_writes_values_the_product_reads(db):
    skip_unless_postgres()  # COPY is PostgreSQL's
    before = load.stored_values()

    # Two environments of 5 variables: per environment 5 rows, 5 live entries and the older
    # entry of the one key in five that has history.
    load.fill(22, per_environment=5)

    assert load.stored_values() - before == 22
    environments = list(
        Environment.objects.filter(deployment__name__startswith="fill-", name__startswith="env-")
    )
    assert len(environments) == 2
    actor = Actor.system("tests")
    for environment in environments:
        # Encrypted under the associated data the product decrypts with, row and history.
        assert services.reveal_variable(environment=environment, key="FILL_001", actor=actor) == (
            load.FILL_VALUE
        )
        assert services.reveal_key_history(
            environment=environment, key="FILL_001", actor=actor
        ) == {2: load.FILL_VALUE}
