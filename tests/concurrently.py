"""Test helper: run callables at the same instant in threads, each on its own database
connection (PostgreSQL, where requests really run in parallel; SQLite serializes writers)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection, connections


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
