"""`miosa env import FILE`: a dotenv file (or a .json object) posted to …/env/import with a
personal token; --dry-run prints the diff by key name, --secret marks secrets."""

from __future__ import annotations

import json
import sys

import pytest

from environments import services
from environments.models import Environment

DOTENV = """\
# exported from the old host
export API_URL=https://api.example.com
GREETING="hello\\nworld $HOME"
STRIPE_KEY='sk_live_123'
"""


@pytest.fixture
def dotenv_file(tmp_path):
    path = tmp_path / "app.env"
    path.write_text(DOTENV)
    return path


def stored(environment: Environment) -> dict[str, bool]:
    return dict(environment.variables.values_list("key", "is_secret"))


def test_dry_run_prints_the_diff_and_writes_nothing(
    miosa, shipped, staging, actor, personal_token, dotenv_file
):
    services.set_variable(
        environment=staging, key="API_URL", value="https://old", is_secret=False, actor=actor
    )
    before = Environment.objects.get(pk=staging.pk).config_revision
    result = miosa(
        "env",
        "import",
        str(dotenv_file),
        "--deployment",
        "shop",
        "--environment",
        "staging",
        "--secret",
        "STRIPE_KEY",
        "--dry-run",
        token=personal_token,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "+ GREETING\n"
        "+ STRIPE_KEY (secret)\n"
        "~ API_URL\n"
        "dry run: 2 to add, 1 to change, 0 unchanged in staging; nothing written\n"
    )
    assert stored(staging) == {"API_URL": False}
    assert Environment.objects.get(pk=staging.pk).config_revision == before


def test_dry_run_prints_an_existing_secret_as_a_change_whatever_its_value(
    miosa, shipped, staging, actor, personal_token, dotenv_file
):
    """Issue 18: the API answers an existing secret as replaced, never unchanged."""
    services.set_variable(
        environment=staging, key="STRIPE_KEY", value="sk_live_123", is_secret=True, actor=actor
    )
    args = ("env", "import", str(dotenv_file), "--deployment", "shop", "--environment")
    result = miosa(*args, "staging", "--dry-run", token=personal_token)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "+ API_URL\n"
        "+ GREETING\n"
        "~ STRIPE_KEY (secret)\n"
        "dry run: 2 to add, 1 to change, 0 unchanged in staging; nothing written\n"
    )


def test_import_then_run_gets_every_value_back(
    miosa, shipped, staging, personal_token, runtime_token, dotenv_file
):
    result = miosa(
        "env",
        "import",
        str(dotenv_file),
        "--deployment",
        "shop",
        "--environment",
        "staging",
        "--secret",
        "STRIPE_KEY",
        token=personal_token,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "  API_URL\n"
        "  GREETING\n"
        "  STRIPE_KEY (secret)\n"
        "imported 3 variables into staging (live as release 2)\n"
    )
    assert stored(staging) == {"API_URL": False, "GREETING": False, "STRIPE_KEY": True}
    script = (
        "import os, json; "
        "print(json.dumps([os.environ[k] for k in ('API_URL', 'GREETING', 'STRIPE_KEY')]))"
    )
    result = miosa("run", "--", sys.executable, "-c", script, token=runtime_token(staging))
    assert json.loads(result.stdout) == [
        "https://api.example.com",
        "hello\nworld $HOME",
        "sk_live_123",
    ]


def test_into_a_staged_environment_the_import_is_pending(
    miosa, shipped, production, personal_token, tmp_path
):
    path = tmp_path / "vars.json"
    path.write_text(json.dumps({"FEATURE": "on", "LIMIT": "10"}))
    result = miosa(
        "env",
        "import",
        str(path),
        "--deployment",
        "shop",
        "--environment",
        "production",
        token=personal_token,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith(
        "imported 2 variables into production (pending: apply to make it live)\n"
    )
    assert stored(production) == {"FEATURE": False, "LIMIT": False}


def test_from_stdin_with_json_output(miosa, shipped, staging, personal_token):
    result = miosa(
        "env",
        "import",
        "-",
        "--deployment",
        "shop",
        "--environment",
        "staging",
        "--json",
        "--dry-run",
        token=personal_token,
        stdin="A=1\nB=2\n",
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert (answer["dry_run"], answer["added"]) == (True, ["A", "B"])


def test_a_bad_line_is_refused_with_its_number_and_nothing_is_written(
    miosa, shipped, staging, personal_token, tmp_path
):
    path = tmp_path / "bad.env"
    path.write_text("GOOD=1\nthis line is not dotenv\n")
    result = miosa(
        "env",
        "import",
        str(path),
        "--deployment",
        "shop",
        "--environment",
        "staging",
        token=personal_token,
    )
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("miosa: ")
    assert "Line 2 is not dotenv syntax" in line
    assert "HTTP 400" in line
    assert stored(staging) == {}


def test_a_missing_file_is_a_usage_error(miosa, shipped, personal_token, tmp_path):
    result = miosa(
        "env",
        "import",
        str(tmp_path / "nope.env"),
        "--deployment",
        "shop",
        "--environment",
        "staging",
        token=personal_token,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"miosa: cannot read {tmp_path / 'nope.env'}:")
