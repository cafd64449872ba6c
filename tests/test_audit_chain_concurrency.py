"""Appending to one chain from many threads at once (PostgreSQL): the head row lock makes them
take turns, so every event gets its own seq and links to the one before; the chain verifies."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import transaction

from environments import audit, services
from environments.actors import Actor
from environments.models import AuditChainHead, AuditEvent
from tests.concurrently import run_concurrently, skip_unless_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 24
EACH = 5


@pytest.fixture(autouse=True)
def needs_postgres():
    skip_unless_postgres()


def test_concurrent_writers_to_one_chain_lose_and_fork_nothing(deployment, staging, actor):
    def writer(i: int):
        def run():
            for n in range(EACH):
                services.set_variable(
                    environment=staging, key=f"K{i}_{n}", value="v", is_secret=False, actor=actor
                )
                with transaction.atomic():
                    audit.record("tests.event", actor=actor, deployment=deployment, target=f"{i}")

        return run

    before = AuditEvent.objects.filter(chain=deployment.pk).count()  # the fixture's
    results = run_concurrently([writer(i) for i in range(THREADS)])
    assert not [r for r in results if isinstance(r, Exception)], results
    total = AuditEvent.objects.filter(chain=deployment.pk).count()
    assert total == before + THREADS * EACH * 2
    seqs = list(
        AuditEvent.objects.filter(chain=deployment.pk).order_by("seq").values_list("seq", flat=True)
    )
    assert seqs == list(range(1, total + 1))
    assert AuditChainHead.objects.get(chain=deployment.pk).seq == total
    out = io.StringIO()
    call_command("verify_audit", "--deployment", "shop", stdout=out)
    assert f"(shop): {total} events" in out.getvalue()


def test_first_writers_of_the_global_chain_take_turns_on_its_head(actor):
    """Chain 0 starts empty here, its head at GENESIS (migration 0006, or post_migrate after a
    flush): every thread races to append its first event."""
    head = AuditChainHead.objects.get(chain=0)
    assert (head.seq, head.hash) == (0, audit.GENESIS)

    def login(i: int):
        return lambda: audit.record("login.failed", actor=Actor.system(f"user{i}"))

    results = run_concurrently([login(i) for i in range(THREADS)])
    assert not [r for r in results if isinstance(r, Exception)], results
    assert AuditChainHead.objects.get(chain=0).seq == THREADS
    out = io.StringIO()
    call_command("verify_audit", "--global", stdout=out)
    assert f"OK chain 0 (global): {THREADS} events" in out.getvalue()
