"""What `miosa run` hands the command (SPEC §18): never the token, nor where it is kept;
--preserve-env keeps local values, --command runs through sh -c. And what it warns about:
a token file other users can read, plain http:// to another machine; a server's message is
printed without its control characters."""

from __future__ import annotations

import http.server
import importlib.util
import json
import sys
import threading

import pytest

from environments import services

from .conftest import MIOSA, closed_port

SHOW = "import os, json; print(json.dumps(dict(os.environ)))"


def load_client():
    spec = importlib.util.spec_from_file_location("miosa_under_test", MIOSA)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def token(shipped, staging, actor, runtime_token):
    for key, value in (("API_URL", "https://api.example"), ("REGION", "eu")):
        services.set_variable(
            environment=staging, key=key, value=value, is_secret=False, actor=actor
        )
    return runtime_token(staging)


@pytest.fixture
def token_file(tmp_path, token):
    path = tmp_path / "secrets" / "miosa-token"
    path.parent.mkdir()
    path.write_text(token + "\n")
    path.chmod(0o600)
    return path


@pytest.mark.parametrize("watch", [(), ("--watch", "30")], ids=["exec", "watch"])
def test_the_command_never_gets_the_token_nor_where_it_is_kept(
    miosa, server, token, token_file, watch
):
    result = miosa(
        "run",
        *watch,
        "--",
        sys.executable,
        "-c",
        SHOW,
        token=token,
        env={
            "MIOSA_TOKEN_FILE": str(token_file),
            "SECRETS_AT": str(token_file),
            "COPY_OF_THE_TOKEN": token,
            "HEADER": f"Authorization: Bearer {token}",
            "KEPT": "local",
        },
    )
    assert result.returncode == 0, result.stderr
    env = json.loads(result.stdout)
    for name in ("MIOSA_TOKEN", "MIOSA_TOKEN_FILE", "SECRETS_AT", "COPY_OF_THE_TOKEN", "HEADER"):
        assert name not in env, name
    assert token not in result.stdout
    assert str(token_file) not in result.stdout
    assert (env["KEPT"], env["MIOSA_URL"], env["API_URL"]) == (
        "local",
        server,
        "https://api.example",
    )


def test_with_a_token_file_the_command_gets_neither_token_nor_path(miosa, token_file):
    result = miosa(
        "run",
        "--token-file",
        "secrets/miosa-token",  # relative to the working directory
        "--",
        sys.executable,
        "-c",
        SHOW,
        token=None,
        env={"TOKEN_AT": str(token_file)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # 0600: no warning
    env = json.loads(result.stdout)
    assert "TOKEN_AT" not in env
    assert token_file.read_text().strip() not in result.stdout


def test_preserve_env_keeps_local_values_over_the_fetched_ones(miosa, token):
    result = miosa(
        "run",
        "--preserve-env",
        "API_URL,NOT_SET",
        "--preserve-env",
        "LOCAL_ONLY",
        "--",
        sys.executable,
        "-c",
        SHOW,
        token=token,
        env={"API_URL": "http://localhost:3000", "REGION": "local", "LOCAL_ONLY": "x"},
    )
    assert result.returncode == 0, result.stderr
    env = json.loads(result.stdout)
    assert env["API_URL"] == "http://localhost:3000"  # preserved
    assert env["REGION"] == "eu"  # fetched, as without the option
    assert env["LOCAL_ONLY"] == "x"
    assert "NOT_SET" not in env


def test_preserve_env_takes_several_names_before_the_double_dash(miosa, token):
    result = miosa(
        "run",
        "--preserve-env",
        "API_URL",
        "REGION",
        "--",
        sys.executable,
        "-c",
        SHOW,
        token=token,
        env={"API_URL": "mine", "REGION": "mine too"},
    )
    assert result.returncode == 0, result.stderr
    env = json.loads(result.stdout)
    assert (env["API_URL"], env["REGION"]) == ("mine", "mine too")


def test_preserve_env_cannot_keep_the_token(miosa, token, tmp_path):
    result = miosa("run", "--preserve-env", "MIOSA_TOKEN", "--", "touch", "started", token=token)
    assert result.returncode == 2
    assert "--preserve-env cannot keep MIOSA_TOKEN" in result.stderr
    assert not (tmp_path / "started").exists()


@pytest.mark.parametrize("watch", [(), ("--watch", "30")], ids=["exec", "watch"])
def test_command_runs_through_sh(miosa, token, watch):
    result = miosa(
        "run",
        *watch,
        "--command",
        'printf "%s|%s" "$API_URL" "${MIOSA_TOKEN:-none}"; exit 4',
        token=token,
    )
    assert (result.returncode, result.stdout) == (4, "https://api.example|none")


def test_command_and_cmd_together_are_a_usage_error(miosa, token, tmp_path):
    result = miosa("run", "--command", "true", "--", "touch", "started", token=token)
    assert (result.returncode, result.stderr) == (2, "miosa: give --command or CMD, not both\n")
    assert not (tmp_path / "started").exists()


def test_a_token_file_other_users_can_read_is_warned_about(miosa, token_file):
    token_file.chmod(0o644)
    result = miosa("env", "pull", "--token-file", str(token_file), token=None)
    assert result.returncode == 0, result.stderr
    assert result.stderr == (
        f"miosa: the token file {token_file} is readable by other users (mode 0644): "
        f"chmod 600 {token_file}\n"
    )
    token_file.chmod(0o640)
    assert "(mode 0640)" in miosa("env", "pull", "--token-file", str(token_file), token=None).stderr


def test_plain_http_to_another_machine_is_warned_about(miosa, token):
    # 0.0.0.0 is no loopback address; nothing listens on the port (nothing leaves the host).
    url = f"http://0.0.0.0:{closed_port()}"
    result = miosa("env", "pull", token=token, url=url)
    assert result.returncode == 3
    assert result.stderr.startswith(
        f"miosa: {url} is plain http:// to another machine: the token and every value cross "
        "the network unencrypted (use https://)\n"
    )
    # To this machine it is not (the live server is on 127.0.0.1).
    assert miosa("env", "pull", token=token).stderr == ""


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("app.localhost", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("LOCALHOST.", True),
        ("10.0.0.7", False),
        ("environments.example.com", False),
        ("localhost.example.com", False),
        ("0.0.0.0", False),
    ],
)
def test_what_counts_as_loopback(host, loopback):
    assert load_client().is_loopback(host) is loopback


def test_a_url_with_credentials_is_refused(miosa, token):
    result = miosa("env", "pull", token=token, url=f"http://user:{token}@127.0.0.1:9")
    assert result.returncode == 2
    assert result.stderr == "miosa: MIOSA_URL takes no user:password@: set MIOSA_TOKEN instead\n"


class Hostile(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        message = "Bad \x1b[31mtoken\x1b[0m\x07\x1b]0;owned\x07 \u202egnp.exe\x9b2J here"
        body = json.dumps({"error": {"code": "invalid_token", "message": message}}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_control_characters_are_stripped_from_the_servers_message(miosa, token):
    httpd = http.server.HTTPServer(("127.0.0.1", 0), Hostile)
    threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    try:
        result = miosa(
            "run", "--", "true", token=token, url=f"http://127.0.0.1:{httpd.server_port}"
        )
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert result.returncode == 1
    assert result.stderr == (
        "miosa: Bad [31mtoken[0m]0;owned gnp.exe2J here (invalid_token, HTTP 401)\n"
    )
