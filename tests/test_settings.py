"""Start-up refuses to run without its secrets, or with a malformed keyring."""

from __future__ import annotations

import ast
import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from project.settings import Env

ROOT = Path(__file__).resolve().parent.parent
GOOD_KEY = base64.b64encode(b"k" * 32).decode()


def start(
    code: str = "import django; django.setup(); print('started')", **env: str
) -> subprocess.CompletedProcess:
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    environ.update({"DJANGO_SETTINGS_MODULE": "project.settings", **env})
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_starts_with_its_settings():
    result = start(DEBUG="false", SECRET_KEY="s" * 50, ENCRYPTION_KEYS=f"p1:{GOOD_KEY}")
    assert result.stdout.strip() == "started", result.stderr


@pytest.mark.parametrize(
    "env, message",
    [
        ({"SECRET_KEY": "", "ENCRYPTION_KEYS": f"p1:{GOOD_KEY}"}, "SECRET_KEY is not set"),
        ({"SECRET_KEY": "s" * 50, "ENCRYPTION_KEYS": ""}, "ENCRYPTION_KEYS is not set"),
        (
            {
                "SECRET_KEY": "s" * 50,
                "ENCRYPTION_KEYS": "p1:" + base64.b64encode(b"k" * 31).decode(),
            },
            "31 bytes long",
        ),
        ({"SECRET_KEY": "s" * 50, "ENCRYPTION_KEYS": "p1"}, "not of the form id:base64key"),
    ],
)
def test_production_refuses_to_start_without_valid_secrets(env, message):
    result = start(DEBUG="false", **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr
    assert GOOD_KEY not in result.stderr


def test_production_settings_pass_the_deploy_check():
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    environ.update(
        DJANGO_SETTINGS_MODULE="project.settings",
        DEBUG="false",
        SECRET_KEY="deploy-check-" + "x" * 50,
        ENCRYPTION_KEYS=f"p1:{GOOD_KEY}",
        ALLOWED_HOSTS="environments.example.com",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def settings_read(method: str | None = None) -> set[str]:
    """The names project/settings.py reads with `env.<method>("NAME", ...)` (any method if None)."""
    tree = ast.parse((ROOT / "project" / "settings.py").read_text())
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "env"
        and (method is None or node.func.attr == method)
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }


BOOLEAN_SETTINGS = sorted(settings_read("bool"))
PRODUCTION = {"DEBUG": "false", "SECRET_KEY": "s" * 50, "ENCRYPTION_KEYS": f"p1:{GOOD_KEY}"}


def test_the_boolean_settings_are_found():
    assert {"DEBUG", "SECURE_SSL_REDIRECT", "SECURE_HSTS_PRELOAD", "BEHIND_TLS_PROXY"} <= set(
        BOOLEAN_SETTINGS
    )


@pytest.mark.parametrize("name", BOOLEAN_SETTINGS)
def test_a_boolean_setting_that_is_not_a_boolean_stops_start_up(name):
    result = start(**{**PRODUCTION, name: "ture"})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"{name} is not a boolean" in result.stderr


def test_debug_ture_is_reported_before_the_missing_secrets():
    result = start(DEBUG="ture", SECRET_KEY="", ENCRYPTION_KEYS="")
    assert result.returncode != 0
    assert "DEBUG is not a boolean" in result.stderr


def test_an_integer_setting_that_is_not_a_number_stops_start_up_without_quoting_it():
    result = start(**PRODUCTION, TRUSTED_PROXY_HOPS="1O-canary")
    assert result.returncode != 0
    assert "TRUSTED_PROXY_HOPS is not a whole number" in result.stderr
    assert "1O-canary" not in result.stderr


def test_production_transport_security_is_on_by_default():
    names = ["SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"]
    names += ["SECURE_HSTS_PRELOAD", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_SECONDS"]
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {names!r}}}))"
    )
    production = start(code, **PRODUCTION)
    assert json.loads(production.stdout) == {**dict.fromkeys(names, True), names[-1]: 31536000}
    local = start(code, DEBUG="true", SECRET_KEY="", ENCRYPTION_KEYS="")
    assert json.loads(local.stdout) == {**dict.fromkeys(names, False), names[-1]: 0}
    overridden = start(code, **PRODUCTION, SECURE_SSL_REDIRECT="off", SECURE_HSTS_PRELOAD="0")
    assert json.loads(overridden.stdout)["SECURE_SSL_REDIRECT"] is False
    assert json.loads(overridden.stdout)["SECURE_HSTS_PRELOAD"] is False


def environment(**values: str) -> Env:
    env = Env()
    env.ENVIRON = values
    return env


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("true", True),
        ("TRUE", True),
        (" yes ", True),
        ("1", True),
        ("on", True),
        ("false", False),
        ("Off", False),
        ("0", False),
        ("no", False),
        ("", "default"),
        ("  ", "default"),
    ],
)
def test_booleans_read_the_usual_spellings(raw, expected):
    assert environment(FLAG=raw).bool("FLAG", default="default") == expected


@pytest.mark.parametrize("raw", ["ture", "2", "y", "enabled", "-1"])
def test_booleans_refuse_anything_else(raw):
    with pytest.raises(ImproperlyConfigured, match="FLAG is not a boolean"):
        environment(FLAG=raw).bool("FLAG", default=False)


def test_an_unset_setting_takes_its_default_and_a_required_one_says_so():
    assert environment().bool("FLAG", default=True) is True
    assert environment().int("COUNT", default=7) == 7
    assert environment(COUNT=" 12 ").int("COUNT", default=7) == 12
    with pytest.raises(ImproperlyConfigured, match="Set the FLAG environment variable"):
        environment(FLAG="").bool("FLAG")
    with pytest.raises(ImproperlyConfigured, match="COUNT is not a whole number"):
        environment(COUNT="12.5").int("COUNT", default=7)


def test_env_example_lists_every_setting_the_settings_module_reads():
    example = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", example, flags=re.MULTILINE))
    read = settings_read()
    assert {"DEBUG", "DATABASE_URL", "SECURE_HSTS_PRELOAD"} <= read
    assert read - listed == set(), "read by project/settings.py but missing from .env.example"
    assert listed - read == set(), "listed in .env.example but never read"
