"""Test helpers for races: run callables at the same instant in threads, each on its own
database connection (PostgreSQL, where requests really run in parallel; SQLite serializes
writers); or make one interleaving certain (`delete_after_lookup`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import ModuleType

import pytest
from django.db import connection, connections

from environments import services
from environments.actors import Actor
from environments.models import Environment


def skip_unless_postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("concurrency test needs PostgreSQL (DATABASE_URL=postgres://…)")


def run_concurrently(jobs: list[Callable[[], object]], *, timeout: float = 120) -> list[object]:
    """Start every job behind one barrier; return each one's result or the exception it raised."""
    barrier = threading.Barrier(len(jobs))
    results: list[object] = [None] * len(jobs)

    def target(i: int) -> None:
        try:
            barrier.wait()
            results[i] = jobs[i]()
        except Exception as exc:  # collected and asserted on by the caller
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    return results


def delete_after_lookup(monkeypatch, actor: Actor, module: ModuleType, name: str) -> None:
    """A write racing its environment's delete, made deterministic: `module.name` (a lookup a
    view calls) answers as before, then the environment it found is deleted through the service,
    before the view calls its write."""
    lookup = getattr(module, name)

    def racing(*args, **kwargs):
        found = lookup(*args, **kwargs)
        environment = found if isinstance(found, Environment) else found.environment
        services.delete_environment(environment=Environment(pk=environment.pk), actor=actor)
        return found

    monkeypatch.setattr(module, name, racing)
