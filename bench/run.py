"""Benchmarks. Rerun with `make bench`. Every figure is a ratio against a baseline measured in
the same run on the same machine, so runs on different machines compare.

Uses a throwaway SQLite database in a temp directory (or DATABASE_URL if set).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TMP = tempfile.mkdtemp(prefix="miosa-bench-")
os.environ.setdefault("DATABASE_URL", f"sqlite:///{TMP}/bench.sqlite3")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ["DEBUG"] = "false"
os.environ["ALLOWED_HOSTS"] = "testserver"

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from environments import crypto, selectors, services  # noqa: E402
from environments.actors import Actor  # noqa: E402
from environments.models import Environment, Variable  # noqa: E402
from environments.services import VariableInput  # noqa: E402


class CountQueries:
    """Counts SQL statements, whatever the request cycle does to connection.queries."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)

    def __enter__(self):
        self._cm = connection.execute_wrapper(self)
        self._cm.__enter__()
        return self

    def __exit__(self, *exc):
        self._cm.__exit__(*exc)

    def __len__(self) -> int:
        return self.count


def timed(fn, *, repeat: int = 7, number: int = 20) -> float:
    """Median seconds per call."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - start) / number)
    return statistics.median(samples)


def report(name: str, seconds: float, baseline_name: str, baseline: float, extra: str = "") -> None:
    print(
        f"{name:<48} {seconds * 1e6:>10.1f} µs  = {seconds / baseline:>6.2f} x {baseline_name}"
        + (f"  {extra}" if extra else "")
    )


def main() -> None:
    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_superuser("bench", password="bench-pw")
    actor = Actor(user=user, label=user.get_username())
    deployment = services.create_deployment(name="bench", actor=actor)
    production = Environment.objects.get(deployment=deployment, name="production")
    staging = Environment.objects.get(deployment=deployment, name="staging")
    small = services.create_environment(deployment=deployment, name="small", actor=actor)
    services.set_variables(
        environment=production,
        items=[VariableInput(f"KEY_{i}", f"value-{i}-" + "x" * 60, i % 5 == 0) for i in range(300)],
        actor=actor,
    )
    services.set_variables(
        environment=staging,
        items=[VariableInput(f"KEY_{i}", f"value-{i}-" + "y" * 60, i % 5 == 0) for i in range(300)],
        actor=actor,
    )
    services.set_variables(
        environment=small,
        items=[VariableInput(f"KEY_{i}", f"value-{i}", False) for i in range(5)],
        actor=actor,
    )
    production = Environment.objects.select_related("deployment", "active_version").get(
        pk=production.pk
    )
    small = Environment.objects.select_related("deployment", "active_version").get(pk=small.pk)
    print(f"database: {connection.vendor}; Python {sys.version.split()[0]}\n")

    print("-- crypto: our format vs a bare ChaCha20-Poly1305 call (1 KiB value)")
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    keyring = crypto.get_keyring()
    value = "v" * 1024
    aead = ChaCha20Poly1305(keyring.keys[0][1])
    nonce = os.urandom(12)
    bare = timed(lambda: aead.encrypt(nonce, value.encode(), b"ctx"), number=2000)
    report("bare ChaCha20Poly1305.encrypt", bare, "bare", bare)
    ours = timed(lambda: crypto.encrypt(value, context="ctx", keyring=keyring), number=2000)
    report("crypto.encrypt", ours, "bare", bare)
    blob = crypto.encrypt(value, context="ctx", keyring=keyring)
    report(
        "crypto.decrypt",
        timed(lambda: crypto.decrypt(blob, context="ctx", keyring=keyring), number=2000),
        "bare",
        bare,
    )
    report(
        "crypto.fingerprint",
        timed(lambda: crypto.fingerprint(value, scope="s", keyring=keyring), number=2000),
        "bare",
        bare,
    )

    print("\n-- reads: 300 variables vs the bare ORM fetch of the same rows")
    orm = timed(lambda: list(Variable.objects.filter(environment=production)))
    report("ORM fetch of 300 rows (baseline)", orm, "ORM", orm)
    report(
        "selectors.variable_rows (previews)",
        timed(lambda: selectors.variable_rows([production])),
        "ORM",
        orm,
    )
    report(
        "selectors.runtime_config (decrypt all)",
        timed(lambda: selectors.runtime_config(production)),
        "ORM",
        orm,
    )
    report(
        "selectors.compare_environments",
        timed(lambda: selectors.compare_environments(production, staging)),
        "ORM",
        orm,
    )

    print("\n-- HTTP (Django test client, in process): per request")
    client = Client()
    client.force_login(user)
    page_base = timed(lambda: client.get("/login/"), number=10)
    report("GET /login/ (baseline)", page_base, "login", page_base)
    for path in [
        "/",
        f"/deployments/{deployment.pk}/",
        f"/deployments/{deployment.pk}/env/production/",
        f"/deployments/{deployment.pk}/compare/?left=staging&right=production",
    ]:
        try:
            response = client.get(path)
        except Exception as exc:  # a page under construction should not stop the other figures
            print(f"GET {path}: {type(exc).__name__}, skipped")
            continue
        if response.status_code == 200:
            with CountQueries() as ctx:
                client.get(path)
            report(
                f"GET {path}",
                timed(lambda p=path: client.get(p), number=10),
                "login",
                page_base,
                f"{len(ctx)} queries",
            )
    _, rt_small = services.create_runtime_token(environment=small, name="bench", actor=actor)
    _, rt_large = services.create_runtime_token(environment=production, name="bench", actor=actor)
    for label, token in (("5 vars", rt_small), ("300 vars", rt_large)):
        headers = {"Authorization": f"Bearer {token}"}
        response = client.get("/api/v1/runtime/env", headers=headers)
        if response.status_code != 200:
            print(f"runtime endpoint: {response.status_code}, skipped")
            break
        with CountQueries() as ctx:
            client.get("/api/v1/runtime/env", headers=headers)
        report(
            f"GET /api/v1/runtime/env ({label})",
            timed(lambda h=headers: client.get("/api/v1/runtime/env", headers=h), number=10),
            "login",
            page_base,
            f"{len(ctx)} queries",
        )

    history_cost(client, deployment, actor)


def history_cost(client: Client, deployment, actor: Actor) -> None:
    """SPEC §9: a fetch reads the live release's configuration out of the value history. Two
    live environments with the same 50 variables (20 secrets): one at revision 2, the other
    with 199 more revisions of history (one key changed each time)."""
    print("\n-- releases: runtime fetch with 200 revisions of history vs 1")
    version = services.create_version(deployment=deployment, actor=actor)
    tokens = {}
    for name, revisions in (("hist-1", 1), ("hist-200", 200)):
        environment = services.create_environment(deployment=deployment, name=name, actor=actor)
        services.set_variables(
            environment=environment,
            items=[VariableInput(f"KEY_{i}", f"value-{i}-" + "z" * 40, i < 20) for i in range(50)],
            actor=actor,
        )
        for n in range(revisions - 1):
            services.set_variable(
                environment=environment,
                key=f"KEY_{20 + n % 30}",
                value=f"changed-{n}",
                is_secret=None,
                actor=actor,
            )
        services.deploy_version(environment=environment, version=version, actor=actor)
        _, tokens[revisions] = services.create_runtime_token(
            environment=environment, name="bench", actor=actor
        )
    timings = {}
    for revisions, token in tokens.items():
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/api/v1/runtime/env", headers=headers).status_code == 200
        with CountQueries() as ctx:
            client.get("/api/v1/runtime/env", headers=headers)
        timings[revisions] = timed(
            lambda h=headers: client.get("/api/v1/runtime/env", headers=h), number=20
        )
        report(
            f"GET /api/v1/runtime/env ({revisions} revision{'s' if revisions > 1 else ''})",
            timings[revisions],
            "1 revision",
            timings.get(1, timings[revisions]),
            f"{len(ctx)} queries",
        )


if __name__ == "__main__":
    main()
