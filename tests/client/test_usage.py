"""What the client says and how it exits before and around the server: usage errors (2), no
token as an argument, unreachable or silent servers (3), redirects (not followed)."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading

import pytest

from .conftest import MIOSA, client_command, client_environment

ASK_VERSION = "import sys; print('%d.%d' % sys.version_info[:2], sys.executable)"


@functools.cache
def python_3_9() -> str | None:
    """The executable of a Python 3.9 already installed, never one downloaded for the test:
    `python3.9` on PATH, else the one `uv python find` knows. Each is asked to run and say its
    version and path (a pyenv shim answers once PYENV_VERSION names a 3.9). None if none runs."""
    candidates = [shutil.which("python3.9")]
    if uv := shutil.which("uv"):
        found = subprocess.run(
            [uv, "python", "find", "--no-project", "--no-python-downloads", "3.9"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        candidates.append(found.stdout.strip() if found.returncode == 0 else None)
    for candidate in filter(None, candidates):
        asked = subprocess.run(
            [
                candidate,
                "-I",
                "-c",
                "import sys; print('%d.%d' % sys.version_info[:2], sys.executable)",
            ],
            env={**os.environ, "PYENV_VERSION": "3.9"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        version, _, executable = asked.stdout.strip().partition(" ")
        if asked.returncode == 0 and version == "3.9":
            return executable.strip()
    return None


NO_PY39 = "no Python 3.9 installed (python3.9 on PATH or `uv python find 3.9`) to run the client on"


def run_client(*args: str, url: str | None = "http://127.0.0.1:9", token: str | None = "t", **kw):
    return subprocess.run(
        client_command(*args),
        env=client_environment(url, token, **kw),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["fly"],
        ["env"],
        ["versions"],
        ["run"],
        ["run", "--"],
        ["run", "--watch", "0", "--", "true"],
        ["run", "--watch", "soon", "--", "true"],
        ["--timeout", "0", "run", "--", "true"],
        ["deploy", "--deployment", "shop", "--environment", "staging"],
        ["deploy", "--deployment", "shop", "--environment", "staging", "--version", "v2"],
        ["deploy", "--deployment", "shop", "--environment", "staging", "--version", "0"],
        ["promote", "--deployment", "shop"],
        ["rollback", "--deployment", "shop", "--environment", "production"],
        ["env", "pull", "--format", "yaml"],
        ["env", "import", "--deployment", "shop", "--environment", "staging"],
        ["apply", "--deployment", "shop", "--environment", "staging", "--expected-revision", "x"],
        ["apply", "--deploy", "shop", "--environment", "staging"],  # no abbreviations
    ],
)
def test_usage_errors_exit_2_on_one_line(args):
    result = run_client(*args)
    assert result.returncode == 2, result
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("miosa: ")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--token", "mio_secret", "run", "--", "true"],
        ["run", "--token=mio_secret", "--", "true"],
        ["apply", "--deployment", "1", "--environment", "staging", "--token", "mio_secret"],
        ["env", "pull", "--token", "mio_secret"],
    ],
)
def test_a_token_as_an_argument_is_refused_and_says_why(args):
    result = run_client(*args)
    assert result.returncode == 2
    assert result.stderr == (
        "miosa: --token is not accepted: a token on the command line shows in `ps` and in shell "
        "history. Set MIOSA_TOKEN or pass --token-file PATH.\n"
    )


def test_after_the_double_dash_token_belongs_to_the_command():
    # `--token` after `--` is CMD's business; the fetch fails (nothing listens), exit 3.
    assert run_client("run", "--boot-timeout", "0", "--", "tool", "--token", "x").returncode == 3


def test_no_url_no_token_or_a_bad_url_are_usage_errors(tmp_path):
    assert run_client("env", "pull", url=None).stderr == (
        "miosa: no server: set MIOSA_URL (e.g. https://environments.example.com)\n"
    )
    result = run_client("env", "pull", token=None)
    assert (result.returncode, result.stderr) == (
        2,
        "miosa: no token: set MIOSA_TOKEN or pass --token-file PATH\n",
    )
    result = run_client("env", "pull", url="file:///etc/passwd")
    assert result.returncode == 2
    assert "http:// or https://" in result.stderr
    result = run_client("env", "pull", "--token-file", str(tmp_path / "missing"), token=None)
    assert result.returncode == 2
    assert "cannot read the token file" in result.stderr
    result = run_client("env", "pull", token="mio_rt_a\r\nX-Injected: 1")
    assert (result.returncode, result.stderr) == (
        2,
        "miosa: the token has characters no token has (spaces, control or non-ASCII)\n",
    )
    (tmp_path / "empty").write_text("\n")
    result = run_client("env", "pull", "--token-file", str(tmp_path / "empty"), token=None)
    assert result.returncode == 2
    assert "has no token on its first line" in result.stderr


def test_help_and_version_exit_0():
    result = run_client("--help")
    assert result.returncode == 0
    assert "Exit codes: 0 ok, 1 refused by the server, 2 usage, 3 server unreachable" in " ".join(
        result.stdout.split()
    )
    for command in (
        "run",
        "env pull",
        "env import",
        "versions create",
        "deploy",
        "promote",
        "apply",
        "rollback",
    ):
        assert run_client(*command.split(), "--help").returncode == 0, command
    assert run_client("--version").stdout == "miosa 1.0\n"


@pytest.fixture
def silent_port():
    """A loopback port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def test_a_server_that_never_answers_times_out_with_exit_3(silent_port, tmp_path):
    url = f"http://127.0.0.1:{silent_port}"
    result = run_client(
        "--timeout",
        "0.5",
        "run",
        "--boot-timeout",
        "0",
        "--no-fallback",
        "--",
        "touch",
        str(tmp_path / "x"),
        url=url,
    )
    assert (result.returncode, result.stderr) == (3, f"miosa: cannot reach {url}: timed out\n")
    assert not (tmp_path / "x").exists()


class Redirecting(http.server.BaseHTTPRequestHandler):
    seen: list = []

    def do_GET(self):
        type(self).seen.append(self.headers.get("Authorization"))
        self.send_response(302)
        self.send_header("Location", f"http://127.0.0.1:{self.server.server_port}/elsewhere")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_redirect_is_not_followed_with_the_token(tmp_path):
    Redirecting.seen = []
    httpd = http.server.HTTPServer(("127.0.0.1", 0), Redirecting)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_port}"
        result = run_client("env", "pull", url=url, token="mio_rt_x")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert result.returncode == 1
    assert "redirects (302)" in result.stderr
    assert Redirecting.seen == ["Bearer mio_rt_x"]  # one request: the redirect was not followed


def test_only_the_standard_library_is_imported():
    import ast

    tree = ast.parse(MIOSA.read_text())
    modules = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert modules - {"__future__"} <= sys.stdlib_module_names


@pytest.mark.skipif(python_3_9() is None, reason=NO_PY39)
def test_it_runs_under_python_3_9(tmp_path):
    python = python_3_9()
    compiled = subprocess.run(
        [
            python,
            "-I",
            "-S",
            "-c",
            "import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], "
            "doraise=True)",
            str(MIOSA),
            str(tmp_path / "miosa.pyc"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert compiled.returncode == 0, compiled.stderr
    result = subprocess.run(
        [python, "-I", "-S", str(MIOSA), "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "usage: miosa" in result.stdout
    result = subprocess.run(
        [python, "-I", "-S", str(MIOSA), "run", "--boot-timeout", "0", "--", "true"],
        env=client_environment("http://127.0.0.1:9", "t"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3, result.stderr


@pytest.mark.skipif(python_3_9() is None, reason=NO_PY39)
def test_under_python_3_9_against_the_live_server(
    miosa, shipped, staging, actor, runtime_token, personal_token, tmp_path
):
    from environments import services

    services.set_variable(
        environment=staging,
        key="API_URL",
        value="https://api.example",
        is_secret=False,
        actor=actor,
    )
    token = runtime_token(staging)
    python = python_3_9()
    script = "import os, sys; print(sys.version_info[:2], os.environ['API_URL'])"
    result = miosa("run", "--", python, "-c", script, token=token, python=python)
    assert (result.returncode, result.stdout) == (0, "(3, 9) https://api.example\n")
    result = miosa("env", "pull", "-o", "app.env", token=token, python=python)
    assert result.returncode == 0, result.stderr
    assert 'API_URL="https://api.example"' in (tmp_path / "app.env").read_text()
    result = miosa(
        "promote",
        "--deployment",
        "shop",
        "--from",
        "staging",
        "--expected-version",
        "9",
        token=personal_token,
        python=python,
    )
    assert result.returncode == 1
    assert "(stale, HTTP 409)" in result.stderr
