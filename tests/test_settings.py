"""Start-up refuses to run without its secrets, or with a malformed keyring."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOOD_KEY = base64.b64encode(b"k" * 32).decode()


def start(**env: str) -> subprocess.CompletedProcess:
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    environ.update({"DJANGO_SETTINGS_MODULE": "project.settings", **env})
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
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
