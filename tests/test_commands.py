from __future__ import annotations

import base64
import hashlib
import io

import pytest
from django.core.management import CommandError, call_command
from django.http import HttpRequest

from environments import crypto, selectors
from environments.management.commands.seed_demo import DEMO_SECRET_VALUES
from environments.models import (
    ApiToken,
    AuditEvent,
    Binding,
    ConfigEntry,
    Environment,
    RuntimeToken,
    Variable,
)
from tests.runtime import runtime_env


def run(*args, **kwargs) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, **kwargs)
    return out.getvalue().strip()


@pytest.mark.django_db
def test_seed_demo_builds_the_seed_example_and_is_idempotent():
    first = run("seed_demo")
    assert first == "shop: preview/pr-42 v19, production v17, staging v18 (19 versions)"
    assert run("seed_demo") == first
    assert Variable.objects.count() == 13 and Binding.objects.count() == 4
    envs = {e.name: e for e in Environment.objects.select_related("deployment", "active_version")}
    production, staging = envs["production"], envs["staging"]
    assert runtime_env(production)["DATABASE_URL"].startswith("postgres://app:pr0d-")
    assert runtime_env(staging)["DATABASE_URL"].startswith("postgres://app:stag-")
    assert runtime_env(production)["MIOSA_DOMAINS"] == "shop.example.com"
    assert runtime_env(staging)["MIOSA_DOMAINS"] == "staging.shop.example.com"
    for env in envs.values():
        assert Variable.objects.filter(environment=env, is_secret=True).exists()


@pytest.mark.django_db
def test_create_api_token_prints_only_the_token(make_user):
    user = make_user("ci-bot")
    token = run("create_api_token", "ci-bot")
    assert token.startswith("mio_pat_") and "\n" not in token
    assert len(token) >= len("mio_pat_") + 43  # 256 bits, base64url
    stored = ApiToken.objects.get(user=user)
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(list(ApiToken.objects.values()))
    with pytest.raises(CommandError, match="No user"):
        run("create_api_token", "nobody")


@pytest.mark.django_db
def test_create_runtime_token_prints_only_the_token():
    run("seed_demo")
    token = run("create_runtime_token", "shop", "production")
    assert token.startswith("mio_rt_")
    stored = RuntimeToken.objects.get()
    assert stored.environment.name == "production"
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    with pytest.raises(CommandError):
        run("create_runtime_token", "shop", "nope")


@pytest.mark.django_db
def test_rotation_reencrypts_everything_so_the_old_key_can_go(settings):
    old = "old:" + base64.b64encode(b"o" * 32).decode()
    new = "new:" + base64.b64encode(b"n" * 32).decode()
    settings.ENCRYPTION_KEYS = old
    run("seed_demo")
    production = Environment.objects.select_related("deployment", "active_version").get(
        name="production"
    )
    before = runtime_env(production)
    prints_before = selectors.compare_environments(production, production)

    settings.ENCRYPTION_KEYS = f"{new},{old}"  # new key first: new writes use it
    assert runtime_env(production) == before  # old-key values still decrypt
    output = run("rotate_encryption_keys", "--batch-size", "4")
    # 13 variables, 4 bindings, and their history (SPEC §9): 17 first values + LOG_LEVEL's
    # pending replacement in production.
    assert output == (
        "re-encrypted 13 variables, 4 bindings and 18 history values under key new; "
        "0 already current"
    )
    assert {crypto.key_id_of(v.ciphertext) for v in Variable.objects.all()} == {"new"}
    assert {crypto.key_id_of(e.ciphertext) for e in ConfigEntry.objects.exclude(kind="domain")} == {
        "new"
    }
    events = AuditEvent.objects.filter(action="keys.rotate")
    # 13 variables in batches of 4 (4 events) + 4 bindings (1) + 18 history values (5)
    assert len(events) == 10
    assert sum(sum(e.detail.get(k, 0) for k in ("variables", "bindings")) for e in events) == 17
    assert sum(e.detail.get("history", 0) for e in events) == 18

    settings.ENCRYPTION_KEYS = new  # the old key is dropped
    assert runtime_env(production) == before
    staging = Environment.objects.select_related("deployment").get(name="staging")
    comparison = selectors.compare_environments(production, staging)
    assert not comparison.unknown and "LOG_LEVEL" in comparison.different
    assert prints_before.same
    assert run("rotate_encryption_keys") == (
        "re-encrypted 0 variables, 0 bindings and 0 history values under key new; "
        "35 already current"
    )


@pytest.mark.django_db
def test_rotation_stops_cleanly_on_a_value_it_cannot_decrypt(settings):
    run("seed_demo")
    settings.ENCRYPTION_KEYS = "other:" + base64.b64encode(b"x" * 32).decode()
    with pytest.raises(CommandError, match="cannot be decrypted"):
        run("rotate_encryption_keys")


@pytest.mark.django_db(transaction=True)
def test_the_raw_sqlite_file_holds_no_demo_secret(tmp_path, settings):
    """After seed_demo, the database file's bytes contain none of the demo secrets."""
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("checks the SQLite file; PostgreSQL is checked by test_raw_postgres_columns")
    path = tmp_path / "raw.sqlite3"
    run("seed_demo")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM INTO %s", [str(path)])
    raw = path.read_bytes()
    assert b"API_URL" in raw  # the file does hold the rows (keys are not secret)
    for value in [*DEMO_SECRET_VALUES, "https://api.shop.example.com"]:
        assert value.encode() not in raw, value


@pytest.mark.django_db
def test_raw_columns_hold_no_value():
    """The same property through SQL on any database: the ciphertext column holds no value."""
    from django.db import connection

    run("seed_demo")
    with connection.cursor() as cursor:
        cursor.execute("SELECT ciphertext, fingerprint FROM environments_variable")
        rows = cursor.fetchall()
        cursor.execute("SELECT ciphertext, fingerprint FROM environments_binding")
        rows += cursor.fetchall()
    blob = b"".join(bytes(c) + bytes(f) for c, f in rows)
    for value in DEMO_SECRET_VALUES:
        assert value.encode() not in blob


@pytest.mark.django_db
def test_ensure_local_admin_prints_a_login_that_works(settings, client):
    settings.DEBUG = True
    line = run("ensure_local_admin")
    username, password = line.rsplit(" as ", 1)[1].split(" / ")
    # Axes' backend needs a request to count attempts by (client.login passes none by itself).
    assert client.login(request=HttpRequest(), username=username, password=password)
    settings.DEBUG = False
    with pytest.raises(CommandError):
        run("ensure_local_admin")
