"""Eight CI jobs writing to one deployment at once, through the real HTTP stack (a live server,
bearer tokens, PostgreSQL): versions, variables, required keys, domains, environments, bindings,
applies, rollbacks, promotions, restores and deletes, all mixed. No request may fail with a 5xx,
PostgreSQL may detect no deadlock (`pg_stat_database.deadlocks` does not move), every release an
answer reported is stored once, numbered without a gap, and the audit chain verifies.

The services take their locks in one order (`environments/services/__init__.py`), so a cycle
between a row lock and the audit chain's head cannot form."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import connection

from environments import audit, services
from environments.models import Environment, Release
from tests.concurrently import skip_unless_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 8
ROUNDS = 2  # each thread runs every operation this many times, in its own order
URL = "postgres://u:p@db.internal:5432/app"


@pytest.fixture(autouse=True)
def needs_postgres():
    skip_unless_postgres()


def deadlocks() -> int:
    """The database's deadlock count, once every other backend has gone: a backend reports its
    statistics when it exits (the live server closes its connection after each request)."""
    with connection.cursor() as cursor:
        for _ in range(500):
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] == 0:
                break
            time.sleep(0.02)
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


class Client:
    """One CI job: bearer token, JSON bodies, every answer kept."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token
        self.answers: list[tuple[str, int, object]] = []

    def call(self, method: str, path: str, body: object = None) -> tuple[int, object]:
        request = urllib.request.Request(
            self.base + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        answer = json.loads(raw) if raw else None
        self.answers.append((f"{method} {path.split('?')[0]}", status, answer))
        return status, answer


def operations(client: Client, i: int, deployment_id: int) -> list[Callable[[], object]]:
    """What job `i` does, once each. Neighbours create, bind into and delete the same
    preview environments, so writes race deletes."""
    api = f"/api/v1/deployments/{deployment_id}"
    mine, next_one, after = (f"preview/c{n % THREADS}" for n in (i, i + 1, i + 2))
    counter = iter(range(10**6))

    def n() -> int:
        return next(counter)

    return [
        lambda: client.call("POST", f"{api}/versions", {"label": f"job{i}-{n()}"}),
        lambda: client.call(
            "POST", f"{api}/env", {"environment": "staging", "key": f"K{i}_{n()}", "value": "v"}
        ),
        lambda: client.call(
            "POST", f"{api}/env", {"environment": "production", "key": f"P{i}", "value": str(n())}
        ),
        lambda: client.call("PUT", f"{api}/required-keys", {"keys": ["BASE"]}),
        lambda: client.call(
            "POST", f"{api}/domains", {"environment": "staging", "hostname": f"j{i}-{n()}.test"}
        ),
        lambda: client.call("POST", f"{api}/environments", {"name": mine}),
        lambda: client.call(
            "POST",
            f"{api}/bindings",
            {"environment": next_one, "kind": "postgres", "url": URL, "variable_name": f"DB{i}"},
        ),
        lambda: client.call("POST", f"{api}/apply", {"environment": "production"}),
        lambda: client.call(
            "POST", f"{api}/rollback", {"environment": "staging", "release": 1, "config": "keep"}
        ),
        lambda: client.call("POST", f"{api}/promote", {"from": "staging"}),
        lambda: client.call(
            "POST", f"{api}/env/BASE/restore", {"environment": "staging", "revision": 2}
        ),
        lambda: client.call(
            "DELETE", f"{api}/env/P{(i + 1) % THREADS}?environment=production", None
        ),
        lambda: client.call("DELETE", f"{api}/environments/{after}"),
    ]


# Statuses an operation may answer besides 5xx: refusals a race explains (a neighbour's
# environment not there yet or gone, nothing to apply, the same version already live…).
EXPECTED = {
    "POST versions": {201},
    "POST env": {200, 201},
    "PUT required-keys": {200},
    "POST domains": {201},
    "POST environments": {201, 409},
    "POST bindings": {201, 404, 409},
    "POST apply": {201, 409},
    "POST rollback": {201, 409},
    "POST promote": {201, 409},
    "POST restore": {200},
    "DELETE env": {204, 404},
    "DELETE environments": {204, 404},
}


def kind_of(label: str) -> str:
    """The operation of an answer: `POST /api/v1/deployments/3/env/BASE/restore` is
    `POST restore`."""
    method, path = label.split(" ", 1)
    parts = path.split("/")  # "", "api", "v1", "deployments", id, resource, …
    return f"{method} {'restore' if parts[-1] == 'restore' else parts[5]}"


def test_eight_jobs_writing_one_deployment_at_once(
    live_server, deployment, staging, production, owner, actor
):
    token = services.create_api_token(user=owner, name="ci", actor=actor)[1]
    version = services.create_version(deployment=deployment, label="v1", actor=actor)
    for environment in (staging, production):
        services.set_variable(
            environment=environment, key="BASE", value="b", is_secret=False, actor=actor
        )
        services.deploy_version(environment=environment, version=version, actor=actor)
    before = deadlocks()

    clients = [Client(live_server.url, token) for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS)
    failures: list[BaseException] = []

    def job(i: int) -> None:
        try:
            ops = operations(clients[i], i, deployment.pk)
            order = ops[i % len(ops) :] + ops[: i % len(ops)]
            barrier.wait()
            for _ in range(ROUNDS):
                for op in order:
                    op()
        except BaseException as exc:  # asserted on below
            failures.append(exc)

    threads = [threading.Thread(target=job, args=(i,)) for i in range(THREADS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    elapsed = time.monotonic() - started
    answers = [a for c in clients for a in c.answers]
    server_errors = [a for a in answers if a[1] >= 500]
    found = deadlocks() - before
    print(  # the figures (pytest -s)
        f"\n{len(answers)} requests in {elapsed:.1f}s: {len(server_errors)} 5xx, {found} deadlocks,"
        f" statuses {sorted(Counter(a[1] for a in answers).items())}"
    )
    assert not failures, failures
    assert len(answers) == THREADS * ROUNDS * 13
    assert not server_errors, server_errors[:5]
    assert found == 0
    unexpected = [a for a in answers if a[1] not in EXPECTED[kind_of(a[0])]]
    assert not unexpected, unexpected[:5]

    # Every release an answer reported is stored, once; numbers have no gap and the newest
    # is live.
    reported = Counter(
        (answer["environment"], answer["number"])
        for label, status, answer in answers
        if status == 201 and kind_of(label) in ("POST apply", "POST rollback", "POST promote")
    )
    assert reported and max(reported.values()) == 1
    for environment in Environment.objects.filter(deployment=deployment):
        numbers = list(
            Release.objects.filter(environment=environment)
            .order_by("number")
            .values_list("number", flat=True)
        )
        assert numbers == list(range(1, environment.release_count + 1)), environment.name
        if numbers:
            assert environment.live_release.number == numbers[-1]
    stored = set(
        Release.objects.filter(environment__deployment=deployment).values_list(
            "environment__name", "number"
        )
    )
    assert set(reported) <= stored

    [report] = audit.verify(chain=deployment.pk)
    assert report.broken is None, report.broken
