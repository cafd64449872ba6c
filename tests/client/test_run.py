"""`miosa run -- CMD`: fetch with the runtime token, exec CMD with the environment merged;
CMD never starts when the fetch fails."""

from __future__ import annotations

import socket
import sys

import pytest

from environments import services
from environments.models import AuditEvent, RuntimeInstance

from .conftest import closed_port

PRINT_ENV = "import os, sys; print(os.environ[sys.argv[1]])"


@pytest.fixture
def staging_token(shipped, staging, actor, runtime_token):
    services.set_variable(
        environment=staging,
        key="API_URL",
        value="https://api.staging.example",
        is_secret=False,
        actor=actor,
    )
    services.set_variable(
        environment=staging,
        key="STRIPE_KEY",
        value="sk_test_$HOME `x` 'q'",
        is_secret=True,
        actor=actor,
    )
    return runtime_token(staging, name="web")


def test_run_execs_the_command_with_the_environment_merged(miosa, staging_token):
    script = (
        "import os, json; print(json.dumps({k: os.environ.get(k) for k in "
        "['API_URL', 'STRIPE_KEY', 'MIOSA_RELEASE', 'MIOSA_ENVIRONMENT', 'FROM_PARENT']}))"
    )
    result = miosa(
        "run",
        "--",
        sys.executable,
        "-c",
        script,
        token=staging_token,
        env={"FROM_PARENT": "kept", "API_URL": "overridden by the server"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert __import__("json").loads(result.stdout) == {
        "API_URL": "https://api.staging.example",
        "STRIPE_KEY": "sk_test_$HOME `x` 'q'",
        "MIOSA_RELEASE": "3",
        "MIOSA_ENVIRONMENT": "staging",
        "FROM_PARENT": "kept",
    }


def test_run_prints_a_value_from_the_server(miosa, staging_token):
    result = miosa("run", "--", sys.executable, "-c", PRINT_ENV, "API_URL", token=staging_token)
    assert (result.returncode, result.stdout) == (0, "https://api.staging.example\n")


def test_the_command_keeps_its_own_options_and_exit_code(miosa, staging_token):
    # Without "--" too: whatever follows the command is the command's, even its options.
    result = miosa(
        "run",
        sys.executable,
        "-c",
        "import sys; print(sys.argv[1:]); sys.exit(7)",
        "--watch",
        token=staging_token,
    )
    assert (result.returncode, result.stdout) == (7, "['--watch']\n")


def test_run_sends_the_instance_id_default_the_hostname(miosa, staging_token, staging):
    assert miosa("run", "--", "true", token=staging_token).returncode == 0
    assert miosa("run", "--instance", "web-7", "--", "true", token=staging_token).returncode == 0
    seen = set(
        RuntimeInstance.objects.filter(environment=staging).values_list(
            "instance", "release_number"
        )
    )
    assert seen == {(socket.gethostname()[:100], 3), ("web-7", 3)}


def test_a_bad_instance_id_is_a_usage_error(miosa, staging_token, tmp_path):
    result = miosa("run", "--instance", "web 7", "--", "touch", "started", token=staging_token)
    assert result.returncode == 2
    assert "--instance" in result.stderr
    assert not (tmp_path / "started").exists()


def test_a_refused_token_exits_1_and_does_not_start_the_command(miosa, shipped, tmp_path):
    result = miosa(
        "run",
        "--",
        sys.executable,
        "-c",
        "open('started', 'w')",
        token="mio_rt_this-token-does-not-exist",
    )
    assert result.returncode == 1
    assert not (tmp_path / "started").exists()
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("miosa: ")
    assert "HTTP 401" in line
    assert "Traceback" not in result.stderr


def test_a_personal_token_is_refused_by_the_runtime_endpoint(
    miosa, shipped, personal_token, tmp_path
):
    result = miosa("run", "--", "touch", "started", token=personal_token)
    assert result.returncode == 1
    assert not (tmp_path / "started").exists()


def test_an_unreachable_server_exits_3_and_does_not_start_the_command(
    miosa, staging_token, tmp_path
):
    url = f"http://127.0.0.1:{closed_port()}"
    # --boot-timeout 0: one try (a boot retries an outage for 60 s by default, SPEC §18).
    result = miosa(
        "run", "--boot-timeout", "0", "--", "touch", "started", token=staging_token, url=url
    )
    assert result.returncode == 3
    assert not (tmp_path / "started").exists()
    [line] = result.stderr.splitlines()
    assert line.startswith(f"miosa: cannot reach {url}")


def test_a_server_answering_html_exits_1_with_the_status(miosa, staging_token, server, tmp_path):
    # MIOSA_URL with a path the site does not have: Django's HTML 404, not the API's JSON.
    result = miosa("run", "--", "touch", "started", token=staging_token, url=f"{server}/not-here")
    assert result.returncode == 1
    assert result.stderr == "miosa: the server answered HTTP 404\n"
    assert not (tmp_path / "started").exists()


def test_a_missing_command_exits_127(miosa, staging_token):
    result = miosa("run", "--", "no-such-command-miosa-test", token=staging_token)
    assert result.returncode == 127
    assert (
        result.stderr == "miosa: cannot run no-such-command-miosa-test: No such file or directory\n"
    )


def test_each_run_is_audited_as_a_runtime_fetch(miosa, staging_token, staging):
    before = AuditEvent.objects.filter(action="runtime.fetch").count()
    assert miosa("run", "--", "true", token=staging_token).returncode == 0
    event = AuditEvent.objects.filter(action="runtime.fetch").latest("pk")
    assert AuditEvent.objects.filter(action="runtime.fetch").count() == before + 1
    assert (event.environment_name, event.user_agent) == ("staging", "miosa/1.0")
