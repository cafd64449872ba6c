"""A pytest plugin for the run through PgBouncer in transaction mode (`-p tests.pgbouncer`, see
.ci/run): the test database is made and used through PgBouncer like any other; before it is
dropped, PgBouncer's pooled server connections to it are closed (its admin console's KILL),
since PostgreSQL refuses to drop a database others are connected to.

PGBOUNCER_ADMIN_URL: the admin console (the `pgbouncer` database of the same PgBouncer).
"""

from __future__ import annotations

import os

import psycopg
import pytest


@pytest.fixture(scope="session", autouse=True)
def _pgbouncer_lets_the_test_database_go(django_db_setup, django_db_blocker):
    yield
    from django.db import connections

    name = connections["default"].settings_dict["NAME"]
    connections.close_all()
    admin = os.environ["PGBOUNCER_ADMIN_URL"]
    with psycopg.connect(admin, autocommit=True, prepare_threshold=None) as console:
        console.execute(f'KILL "{name}"'.encode())
        console.execute(f'RESUME "{name}"'.encode())
