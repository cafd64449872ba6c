"""GET /api/v1/runtime/env?format=shell, sourced by real shells; HEAD on the runtime endpoint."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from django.test import RequestFactory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from environments import services
from environments.api import envfile, runtime
from environments.models import AuditEvent

URL = "/api/v1/runtime/env"
SHELLS = ["dash", "bash"]
PRINT_ENV = "python3 -c 'import json, os; print(json.dumps(dict(os.environ)))'"


def _awkward(canary: Path) -> dict[str, str]:
    return {
        "NEWLINES": "one\ntwo\n\nthree\n",
        "CR": "a\rb\r\n",
        "DOLLAR": "$HOME and $1 and $$ and $",
        "BRACES": "${HOME} ${X:-default} ${X:=set}",
        "BACKTICKS": f"`touch {canary}`",
        "SUBSHELL": f"$(touch {canary})",
        "SINGLE": "it's 'quoted' '' '",
        "DOUBLE": 'say "hi" \\"',
        "BACKSLASHES": "\\ \\\\ \\n \\' \\",
        "HASH": "# not a comment #",
        "UNICODE": "héllo ✓ 日本 🚀",
        "EMPTY": "",
        "SEMICOLONS": f"; touch {canary}; echo",
        "GLOB": "* ? [a-z]",
        "TILDE": "~ ~root",
    }


def _source(shell: str, script: str, tmp_path: Path) -> dict[str, str]:
    """Write `script` to a file, `set -a; . ./file` it in `shell`, and return the environment
    the shell then passes to a child."""
    (tmp_path / "env.sh").write_bytes(script.encode("utf-8"))
    result = subprocess.run(
        [shutil.which(shell), "-c", f"set -a; . ./env.sh; {PRINT_ENV}"],
        cwd=tmp_path,
        capture_output=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"},
    )
    return json.loads(result.stdout)


@pytest.mark.parametrize("shell", SHELLS)
def test_sourcing_the_shell_format_gives_every_value_back_and_runs_nothing(
    api, production, actor, runtime_token, tmp_path, shell
):
    assert shutil.which(shell), f"{shell} is not installed (.ci/run installs dash)"
    canary = tmp_path / "executed"
    awkward = _awkward(canary)
    services.set_variables(
        environment=production,
        items=[services.VariableInput(key, value) for key, value in awkward.items()],
        actor=actor,
    )
    response = api.get(URL, token=runtime_token(production), params={"format": "shell"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    served = api.get(URL, token=runtime_token(production)).json()["env"]
    env = _source(shell, response.content.decode("utf-8"), tmp_path)
    for key, value in served.items():
        assert env[key] == value, key
    assert {key: env[key] for key in awkward} == awkward
    assert not canary.exists()


def test_every_line_is_export_key_equals_single_quoted_value(api, production, actor, runtime_token):
    services.set_variable(
        environment=production, key="Q", value="it's", is_secret=None, actor=actor
    )
    text = api.get(URL, token=runtime_token(production), params={"format": "shell"}).content
    assert b"export Q='it'\\''s'\n" in text
    assert all(line.startswith(b"export ") for line in text.splitlines())


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    env=st.dictionaries(
        st.from_regex(r"\A[A-Z][A-Z0-9_]{0,10}\Z"),
        st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=30),
        min_size=1,
        max_size=5,
    )
)
def test_any_text_round_trips_through_bash(tmp_path, env):
    assert {
        key: value
        for key, value in _source("bash", envfile.render_shell(env), tmp_path).items()
        if key in env
    } == env
    assert not (tmp_path / "executed").exists()


def test_the_shell_format_has_its_own_etag_and_answers_304(api, production, runtime_token):
    raw = runtime_token(production)
    shell = api.get(URL, token=raw, params={"format": "shell"})
    dotenv = api.get(URL, token=raw, params={"format": "dotenv"})
    assert shell["ETag"] != dotenv["ETag"]
    again = api.get(
        URL, token=raw, params={"format": "shell"}, headers={"If-None-Match": shell["ETag"]}
    )
    assert again.status_code == 304


# HEAD -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "dotenv", "shell"])
def test_head_answers_as_get_without_a_body(api, production, actor, runtime_token, fmt):
    services.set_variable(environment=production, key="A", value="1", is_secret=True, actor=actor)
    raw = runtime_token(production)
    get = api.get(URL, token=raw, params={"format": fmt})
    head = api.request("HEAD", URL, token=raw, params={"format": fmt})
    assert head.status_code == get.status_code == 200
    for header in ("Content-Type", "ETag", "Cache-Control"):
        assert head[header] == get[header]
    assert head["Content-Length"] == str(len(get.content))
    assert head.content == b""
    events = AuditEvent.objects.filter(action="runtime.fetch")
    assert events.count() == 2 and {e.detail["format"] for e in events} == {fmt}


def test_head_sends_no_body_even_before_the_server_strips_it(production, runtime_token):
    """The test client strips HEAD bodies itself; the view must not rely on a server to."""
    request = RequestFactory().head(
        URL, headers={"Authorization": f"Bearer {runtime_token(production)}"}
    )
    response = runtime.runtime_environment(request)
    assert response.status_code == 200 and response.content == b""
    assert int(response["Content-Length"]) > 0


def test_head_with_the_etag_is_304(api, production, runtime_token):
    raw = runtime_token(production)
    etag = api.get(URL, token=raw)["ETag"]
    assert api.request("HEAD", URL, token=raw, headers={"If-None-Match": etag}).status_code == 304


def test_head_refuses_as_get_does(api, production, runtime_token):
    assert api.request("HEAD", URL).status_code == 401
    raw = runtime_token(production)
    assert api.request("HEAD", URL, token=raw, params={"format": "xml"}).status_code == 400


def test_head_is_405_where_get_is_not_allowed(api, deployment, staging):
    response = api.request("HEAD", f"/api/v1/deployments/{deployment.pk}/apply")
    assert response.status_code == 405 and response.content == b""
