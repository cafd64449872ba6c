#!/usr/bin/env python3
"""miosa: the command-line client of MIOSA Environments (SPEC §11).

One file, standard library only, Python 3.9 or newer: copy it into any runtime image.

    MIOSA_URL=https://environments.example.com MIOSA_TOKEN=... miosa run -- ./server
    miosa env pull --format dotenv -o .env
    miosa promote --deployment shop --from staging --expected-version 17

The token comes from MIOSA_TOKEN or from the first line of --token-file PATH, never from an
argument (it would show in `ps` and in shell history). Exit codes: 0 ok, 1 refused by the
server (its message is printed), 2 usage, 3 server unreachable. `run` exits with the
command's own code once the command has started (127 when it is not found, 126 when it
cannot be executed).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

__version__ = "1.0"

OK, REFUSED, USAGE, UNREACHABLE = 0, 1, 2, 3
TIMEOUT = 30.0
# A 429 (rate_limited) to a GET or HEAD is retried after the server's Retry-After, at most
# this many times and only when the wait is at most MAX_RETRY_WAIT seconds; otherwise, and for
# a request that changes something, the server's message is printed (exit 1).
RATE_LIMIT_RETRIES = 3
MAX_RETRY_WAIT = 60.0
INSTANCE_RE = re.compile(r"[A-Za-z0-9._:-]{1,100}")
FORMATS = ("dotenv", "json", "shell")


class Failure(Exception):
    """Ends the command: `message` on one line to stderr, then exit `code`."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def one_line(text: str) -> str:
    return " ".join(str(text).split())


# Command line -----------------------------------------------------------------------------


class Parser(argparse.ArgumentParser):
    """argparse, with one-line errors (exit 2) and no abbreviated options (so that
    `--token` is never taken for `--token-file`)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # type: ignore[override]
        raise Failure(USAGE, f"{message} (see {self.prog} --help)")


def refuse_token_argument(argv: list[str]) -> None:
    """A token as an argument would show in `ps` and in shell history: refuse it."""
    for arg in argv:
        if arg == "--":
            return
        if arg == "--token" or arg.startswith("--token="):
            raise Failure(
                USAGE,
                "--token is not accepted: a token on the command line shows in `ps` and in "
                "shell history. Set MIOSA_TOKEN or pass --token-file PATH.",
            )


def build_parser() -> Parser:
    common = Parser(add_help=False)
    common.add_argument(
        "--token-file",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="read the token from the first line of PATH (else MIOSA_TOKEN)",
    )
    common.add_argument(
        "--url",
        default=argparse.SUPPRESS,
        help="the server's base URL (else MIOSA_URL)",
    )
    common.add_argument(
        "--timeout",
        type=positive,
        metavar="SECONDS",
        default=argparse.SUPPRESS,
        help=f"give up on a request after SECONDS (default {TIMEOUT:g})",
    )

    parser = Parser(
        prog="miosa",
        parents=[common],
        description="The MIOSA Environments client. Reads MIOSA_URL and MIOSA_TOKEN.",
        epilog="Exit codes: 0 ok, 1 refused by the server, 2 usage, 3 server unreachable.",
    )
    parser.add_argument("--version", action="version", version=f"miosa {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    run = commands.add_parser(
        "run",
        parents=[common],
        help="run a command with the environment (runtime token)",
        description="Fetch the runtime environment and run CMD with it merged over the "
        "current one. CMD does not start if the fetch fails.",
    )
    run.add_argument(
        "--watch",
        type=positive,
        metavar="SECONDS",
        help="keep CMD as a child, poll every SECONDS and restart it when the live release changes",
    )
    run.add_argument(
        "--grace",
        type=non_negative,
        default=10.0,
        metavar="SECONDS",
        help="with --watch: how long CMD has to stop after SIGTERM before SIGKILL (default 10)",
    )
    run.add_argument(
        "--instance",
        metavar="ID",
        help="this instance's id, sent as X-Miosa-Instance (default: the hostname)",
    )
    run.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD ...")
    run.set_defaults(handler=cmd_run)

    env = commands.add_parser("env", parents=[common], help="pull or import variables")
    env_commands = env.add_subparsers(dest="env_command", metavar="COMMAND", parser_class=Parser)
    pull = env_commands.add_parser(
        "pull",
        parents=[common],
        help="write the runtime environment to a file (mode 0600) or stdout (runtime token)",
    )
    pull.add_argument("--format", choices=FORMATS, default="dotenv")
    pull.add_argument("-o", "--output", metavar="FILE", help="write here (else stdout)")
    pull.add_argument("--instance", metavar="ID", help="send X-Miosa-Instance: ID")
    pull.set_defaults(handler=cmd_env_pull)
    imp = env_commands.add_parser(
        "import",
        parents=[common],
        help="import a dotenv or JSON file into an environment (personal token)",
    )
    imp.add_argument("file", metavar="FILE", help="a dotenv file, a JSON object, or - for stdin")
    add_target(imp)
    imp.add_argument(
        "--secret",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY",
        help="import these keys as secrets",
    )
    imp.add_argument("--dry-run", action="store_true", help="show what would change, write none")
    imp.set_defaults(handler=cmd_env_import)

    versions = commands.add_parser("versions", parents=[common], help="register versions")
    version_commands = versions.add_subparsers(
        dest="versions_command", metavar="COMMAND", parser_class=Parser
    )
    create = version_commands.add_parser(
        "create", parents=[common], help="register a version; prints its number"
    )
    create.add_argument("--deployment", required=True, metavar="D", help="id or name")
    create.add_argument("--label", default="", metavar="L", help="e.g. the commit")
    create.add_argument("--notes", default="", metavar="N")
    create.set_defaults(handler=cmd_versions_create)

    deploy = commands.add_parser(
        "deploy", parents=[common], help="deploy a version to an environment"
    )
    add_target(deploy)
    deploy.add_argument("--version", required=True, type=positive_int, metavar="N")
    deploy.set_defaults(handler=cmd_deploy)

    promote = commands.add_parser(
        "promote", parents=[common], help="promote an environment's version to its target"
    )
    promote.add_argument("--deployment", required=True, metavar="D", help="id or name")
    promote.add_argument("--from", dest="source", required=True, metavar="E")
    promote.add_argument("--to", dest="target", metavar="T", help="check the target is T")
    promote.add_argument(
        "--expected-version",
        type=version_or_none,
        default=argparse.SUPPRESS,
        metavar="N",
        help="refuse (stale) unless the target still runs version N (none: runs nothing)",
    )
    promote.set_defaults(handler=cmd_promote)

    apply = commands.add_parser(
        "apply", parents=[common], help="make an environment's pending changes live"
    )
    add_target(apply)
    apply.add_argument(
        "--expected-revision",
        type=positive_int,
        metavar="R",
        help="refuse (stale) unless the configuration is still at revision R",
    )
    apply.set_defaults(handler=cmd_apply)

    rollback = commands.add_parser(
        "rollback", parents=[common], help="go back to an earlier release"
    )
    add_target(rollback)
    rollback.add_argument("--release", required=True, type=positive_int, metavar="N")
    rollback.add_argument(
        "--version-only",
        action="store_true",
        help="the release's version with the current configuration (default: both)",
    )
    rollback.set_defaults(handler=cmd_rollback)

    for command in (create, deploy, promote, apply, rollback, imp):
        command.add_argument("--json", action="store_true", help="print the server's JSON")
    return parser


def add_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--deployment", required=True, metavar="D", help="id or name")
    parser.add_argument("--environment", required=True, metavar="E")


def positive(text: str) -> float:
    value = non_negative(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not more than 0")
    return value


def non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text} is not a number of seconds") from None
    if not 0 <= value < 1e9:
        raise argparse.ArgumentTypeError(f"{text} is out of range")
    return value


def positive_int(text: str) -> int:
    if not re.fullmatch(r"[1-9][0-9]{0,9}", text):
        raise argparse.ArgumentTypeError(f"{text} is not a whole number of 1 or more")
    return int(text)


def version_or_none(text: str):
    return None if text == "none" else positive_int(text)


# HTTP -------------------------------------------------------------------------------------


class NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as an error: following it would send the token elsewhere."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class Response:
    def __init__(self, status: int, headers, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError:
            raise Failure(REFUSED, "the server answered something that is not JSON") from None


class Client:
    def __init__(self, url: str, token: str, timeout: float) -> None:
        self.url = url
        self.token = token
        self.timeout = timeout
        self.opener = urllib.request.build_opener(NoRedirects())

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict | None = None,
        body: bytes | None = None,
        content_type: str = "application/json",
        headers: dict | None = None,
        accept=(200, 201),
    ) -> Response:
        url = self.url + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        # The scheme is http or https: connect() checked MIOSA_URL.
        request = urllib.request.Request(url, data=body, method=method)  # noqa: S310
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "application/json")
        request.add_header("User-Agent", f"miosa/{__version__}")
        if body is not None:
            request.add_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        retries = RATE_LIMIT_RETRIES if method in ("GET", "HEAD") else 0
        while True:
            response = self.send(request)
            wait = retry_after(response) if retries else None
            if wait is None:
                break
            retries -= 1
            warn(f"rate limited by the server; retrying in {wait:g} s")
            time.sleep(wait)
        if response.status not in accept:
            raise refused(response)
        return response

    def send(self, request: urllib.request.Request) -> Response:
        try:
            with self.opener.open(request, timeout=self.timeout) as answer:
                return Response(answer.status, answer.headers, answer.read())
        except urllib.error.HTTPError as error:
            try:
                return Response(error.code, error.headers, error.read())
            except OSError as read_error:
                raise unreachable(self.url, read_error) from None
            finally:
                error.close()
        except (OSError, ValueError, http.client.HTTPException) as error:
            # URLError (refused, DNS, TLS), socket timeouts, connections dropped mid-answer.
            raise unreachable(self.url, error) from None

    def get(self, path: str, **kwargs) -> Response:
        return self.request("GET", path, **kwargs)

    def post_json(self, path: str, payload: dict, **kwargs) -> Response:
        return self.request(
            "POST", path, body=json.dumps(payload).encode("utf-8"), accept=(200, 201), **kwargs
        )


def retry_after(response: Response):
    """Seconds to wait before retrying a 429, or None when it is no 429 or the wait is not
    a number of seconds within MAX_RETRY_WAIT."""
    if response.status != 429:
        return None
    try:
        wait = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return wait if 0 <= wait <= MAX_RETRY_WAIT else None


def unreachable(url: str, error: BaseException) -> Failure:
    reason = getattr(error, "reason", None) or error
    if isinstance(reason, socket.timeout) or "timed out" in str(reason):
        reason = "timed out"
    return Failure(UNREACHABLE, f"cannot reach {url}: {one_line(reason) or type(error).__name__}")


def refused(response: Response) -> Failure:
    status = response.status
    if 300 <= status < 400:
        where = response.headers.get("Location", "elsewhere")
        return Failure(
            REFUSED,
            f"the server redirects ({status}) to {where}; set MIOSA_URL to the address it "
            "names (a redirect is not followed with the token)",
        )
    message = None
    try:
        error = json.loads(response.body.decode("utf-8"))["error"]
        message = error["message"]
        code = error.get("code")
    except (ValueError, KeyError, TypeError, AttributeError):
        code = None
    if not isinstance(message, str) or not message:
        message = f"the server answered HTTP {status}"
    elif code:
        message = f"{message} ({code}, HTTP {status})"
    else:
        message = f"{message} (HTTP {status})"
    return Failure(REFUSED, one_line(message))


def connect(args) -> Client:
    url = getattr(args, "url", None) or os.environ.get("MIOSA_URL", "")
    url = url.strip().rstrip("/")
    if not url:
        raise Failure(USAGE, "no server: set MIOSA_URL (e.g. https://environments.example.com)")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Failure(USAGE, f"MIOSA_URL must be an http:// or https:// URL, not {url!r}")
    if parts.query or parts.fragment:
        raise Failure(USAGE, "MIOSA_URL takes no query string or fragment")
    timeout = getattr(args, "timeout", None) or TIMEOUT
    return Client(url, read_token(args), timeout)


def read_token(args) -> str:
    token = token_text(args)
    if not re.fullmatch(r"[!-~]+", token):
        # It goes into a header: no spaces, control or non-ASCII characters.
        raise Failure(USAGE, "the token has characters no token has (spaces, control or non-ASCII)")
    return token


def token_text(args) -> str:
    path = getattr(args, "token_file", None)
    if path:
        try:
            with open(path, encoding="utf-8") as file:
                token = file.readline().strip()
        except (OSError, UnicodeDecodeError) as error:
            raise Failure(USAGE, f"cannot read the token file {path}: {one_line(error)}") from None
        if not token:
            raise Failure(USAGE, f"the token file {path} has no token on its first line")
        return token
    token = os.environ.get("MIOSA_TOKEN", "").strip()
    if not token:
        raise Failure(USAGE, "no token: set MIOSA_TOKEN or pass --token-file PATH")
    return token


def deployment_id(client: Client, given: str) -> int:
    """The id of the deployment named by its id or by its name."""
    if re.fullmatch(r"[0-9]{1,18}", given):
        return int(given)
    listing = client.get("/api/v1/deployments").json()
    for deployment in listing.get("deployments", []):
        if deployment.get("name") == given:
            return int(deployment["id"])
    raise Failure(REFUSED, f"no deployment named {given} is visible to this token")


# Output -----------------------------------------------------------------------------------


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def warn(text: str) -> None:
    sys.stderr.write(f"miosa: {one_line(text)}\n")
    sys.stderr.flush()


def show_release(release: dict, as_json: bool) -> None:
    if as_json:
        say(json.dumps(release))
        return
    say(
        "{environment}: release {number} is live (version {version}, config revision "
        "{config_revision}, {kind})".format(
            environment=release.get("environment"),
            number=release.get("number"),
            version=release.get("version"),
            config_revision=release.get("config_revision"),
            kind=release.get("kind"),
        )
    )


# Commands ---------------------------------------------------------------------------------


def cmd_versions_create(args) -> int:
    client = connect(args)
    path = f"/api/v1/deployments/{deployment_id(client, args.deployment)}/versions"
    version = client.post_json(path, {"label": args.label, "notes": args.notes}).json()
    say(json.dumps(version) if args.json else str(version["number"]))
    return OK


def cmd_deploy(args) -> int:
    client = connect(args)
    path = f"/api/v1/deployments/{deployment_id(client, args.deployment)}/deploy"
    payload = {"environment": args.environment, "version": args.version}
    show_release(client.post_json(path, payload).json(), args.json)
    return OK


def cmd_promote(args) -> int:
    client = connect(args)
    path = f"/api/v1/deployments/{deployment_id(client, args.deployment)}/promote"
    payload: dict = {"from": args.source}
    if args.target is not None:
        payload["to"] = args.target
    if hasattr(args, "expected_version"):
        payload["expected_version"] = args.expected_version
    show_release(client.post_json(path, payload).json(), args.json)
    return OK


def cmd_apply(args) -> int:
    client = connect(args)
    path = f"/api/v1/deployments/{deployment_id(client, args.deployment)}/apply"
    payload: dict = {"environment": args.environment}
    if args.expected_revision is not None:
        payload["expected_revision"] = args.expected_revision
    show_release(client.post_json(path, payload).json(), args.json)
    return OK


def cmd_rollback(args) -> int:
    client = connect(args)
    path = f"/api/v1/deployments/{deployment_id(client, args.deployment)}/rollback"
    payload = {
        "environment": args.environment,
        "release": args.release,
        "config": "keep" if args.version_only else "restore",
    }
    show_release(client.post_json(path, payload).json(), args.json)
    return OK


def cmd_env_import(args) -> int:
    if args.file == "-":
        body = sys.stdin.buffer.read()
    else:
        try:
            with open(args.file, "rb") as file:
                body = file.read()
        except OSError as error:
            raise Failure(USAGE, f"cannot read {args.file}: {one_line(error)}") from None
    # A JSON object when the file says so by its name, else a dotenv file.
    json_file = args.file.lower().endswith(".json")
    content_type = "application/json" if json_file else "text/plain; charset=utf-8"
    client = connect(args)
    path = f"/api/v1/deployments/{deployment_id(client, args.deployment)}/env/import"
    params: dict = {"environment": args.environment}
    if args.dry_run:
        params["dry_run"] = "true"
    if args.secret:
        params["secret_keys"] = ",".join(args.secret)
    result = client.request(
        "POST", path, params=params, body=body, content_type=content_type
    ).json()
    if args.json:
        say(json.dumps(result))
    elif args.dry_run:
        show_diff(result)
    else:
        show_imported(result)
    return OK


def show_diff(diff: dict) -> None:
    """The dry run's answer, by key name: + added, ~ changed (= unchanged are counted)."""
    secrets = set(diff.get("secret_keys") or [])
    for sign, label in (("+", "added"), ("~", "changed")):
        for key in diff.get(label) or []:
            say(f"{sign} {key}{' (secret)' if key in secrets else ''}")
    say(
        "dry run: {} to add, {} to change, {} unchanged in {}; nothing written".format(
            len(diff.get("added") or []),
            len(diff.get("changed") or []),
            len(diff.get("unchanged") or []),
            diff.get("environment"),
        )
    )


def show_imported(result: dict) -> None:
    variables = result.get("variables") or []
    environment = variables[0].get("environment") if variables else "the environment"
    for item in variables:
        say(f"  {item.get('key')}{' (secret)' if item.get('is_secret') else ''}")
    if result.get("pending"):
        state = "pending: apply to make it live"
    elif result.get("live_release") is not None:
        state = f"live as release {result['live_release']}"
    else:
        state = "goes live with the first deploy"
    say(f"imported {len(variables)} variables into {environment} ({state})")


def fetch_runtime(
    client: Client, fmt: str, instance: str | None, etag: str | None = None
) -> Response:
    headers = {}
    if instance:
        headers["X-Miosa-Instance"] = instance
    if etag:
        headers["If-None-Match"] = etag
    return client.get(
        "/api/v1/runtime/env", params={"format": fmt}, headers=headers, accept=(200, 304)
    )


def cmd_env_pull(args) -> int:
    instance = checked_instance(args.instance) if args.instance else None
    client = connect(args)
    body = fetch_runtime(client, args.format, instance).body
    if args.output in (None, "-"):
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
        return OK
    write_private(args.output, body)
    return OK


def write_private(path: str, body: bytes) -> None:
    """Write `body` to `path` with mode 0600, replacing it atomically: the file is whole or
    absent, and no other user can read it at any moment."""
    directory = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    temporary = None
    try:
        for _ in range(100):
            candidate = os.path.join(directory, f".{name}.miosa-{os.urandom(6).hex()}")
            try:
                fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue
            temporary = candidate
            break
        else:
            raise OSError(f"no temporary file could be created in {directory}")
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), 0o600)  # whatever the umask
            file.write(body)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
        temporary = None
    except OSError as error:
        raise Failure(USAGE, f"cannot write {path}: {one_line(error)}") from None
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def checked_instance(instance: str) -> str:
    if not INSTANCE_RE.fullmatch(instance):
        raise Failure(USAGE, "--instance is 1 to 100 letters, digits, '.', '_', ':' or '-'")
    return instance


def default_instance() -> str:
    """The hostname, made to fit X-Miosa-Instance."""
    name = re.sub(r"[^A-Za-z0-9._:-]", "-", socket.gethostname())[:100]
    return name or "unknown"


def runtime_env(response: Response) -> dict:
    payload = response.json()
    env = payload.get("env") if isinstance(payload, dict) else None
    if not isinstance(env, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in env.items()
    ):
        raise Failure(REFUSED, "the server's answer has no environment in it")
    return payload


def cmd_run(args) -> int:
    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise Failure(USAGE, "name the command to run: miosa run -- CMD [ARG ...]")
    instance = checked_instance(args.instance) if args.instance else default_instance()
    client = connect(args)
    response = fetch_runtime(client, "json", instance)
    payload = runtime_env(response)
    if args.watch is None:
        env = merged(payload)
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            os.execvpe(cmd[0], cmd, env)  # noqa: S606 (running CMD is the point)
        except OSError as error:
            return cannot_start(cmd[0], error)
    return Watcher(client, instance, cmd, args.watch, args.grace).run(
        payload, response.headers.get("ETag")
    )


def merged(payload: dict) -> dict:
    env = dict(os.environ)
    env.update(payload["env"])
    return env


def cannot_start(name: str, error: OSError) -> int:
    warn(f"cannot run {name}: {error.strerror or error}")
    return 127 if isinstance(error, FileNotFoundError) else 126


def exit_code(returncode: int) -> int:
    """A child killed by signal N exits 128 + N, as in a shell."""
    return 128 - returncode if returncode < 0 else returncode


# Passed on to CMD under --watch; the first three also end miosa once CMD has stopped.
STOPPING = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
FORWARDED = (*STOPPING, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)


class Watcher:
    """`run --watch`: CMD as a child in its own process group (so that a restart stops all
    it started, and a terminal's Ctrl-C reaches it once, through miosa); poll with
    If-None-Match and restart the group when the live release changes; pass signals on."""

    def __init__(self, client: Client, instance: str, cmd: list, every: float, grace: float):
        self.client = client
        self.instance = instance
        self.cmd = cmd
        self.every = every
        self.grace = grace
        self.child = None
        self.stopping = False
        self.stop_signal = signal.SIGTERM

    def run(self, payload: dict, etag: str | None) -> int:
        for sig in FORWARDED:
            signal.signal(sig, self.forward)
        release = live_release(payload)
        try:
            self.start(payload)
        except OSError as error:
            return cannot_start(self.cmd[0], error)
        next_poll = time.monotonic() + self.every
        while True:
            if self.stopping:
                # Forwarded already: wait for the child to stop, whatever it takes.
                return exit_code(self.child.wait())
            try:
                code = self.child.wait(timeout=max(0.0, next_poll - time.monotonic()))
            except subprocess.TimeoutExpired:
                code = None
            if code is not None:
                return exit_code(code)
            if self.stopping:
                continue
            next_poll = time.monotonic() + self.every
            try:
                response = fetch_runtime(self.client, "json", self.instance, etag)
                if response.status == 304:
                    continue
                payload = runtime_env(response)
            except Failure as failure:
                warn(f"{failure.message}; CMD keeps running, next try in {self.every:g} s")
                continue
            etag = response.headers.get("ETag") or etag
            if live_release(payload) == release:
                continue
            release = live_release(payload)
            warn(f"release {payload.get('release')} is live: restarting {self.cmd[0]}")
            code = self.stop()
            if self.stopping:
                return exit_code(code)
            try:
                self.start(payload)
            except OSError as error:
                return cannot_start(self.cmd[0], error)

    def start(self, payload: dict) -> None:
        self.child = subprocess.Popen(  # noqa: S603 (running CMD is the point)
            self.cmd, env=merged(payload), start_new_session=True
        )
        if self.stopping:
            # Told to stop while the command restarted: the new one stops too.
            self.signal_group(self.stop_signal)

    def signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.child.pid, sig)

    def stop(self) -> int:
        """SIGTERM, then SIGKILL after the grace period; the child's exit status."""
        self.signal_group(signal.SIGTERM)
        try:
            code = self.child.wait(timeout=self.grace)
        except subprocess.TimeoutExpired:
            self.signal_group(signal.SIGKILL)
            code = self.child.wait()
        # Whatever the child left in its group goes with it.
        self.signal_group(signal.SIGKILL)
        return code

    def forward(self, sig: int, frame) -> None:
        if sig in STOPPING:
            self.stopping = True
            self.stop_signal = sig
        if self.child is not None:
            self.signal_group(sig)  # a group that is gone already: nothing happens


def live_release(payload: dict):
    return (payload.get("release"), payload.get("version"), payload.get("config_revision"))


# Main -------------------------------------------------------------------------------------


def main(argv: list | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        refuse_token_argument(argv)
        parser = build_parser()
        args = parser.parse_args(argv)
        handler = getattr(args, "handler", None)
        if handler is None:
            words = [args.command] + [
                getattr(args, name) or ""
                for name in ("env_command", "versions_command")
                if hasattr(args, name)
            ]
            what = " ".join(word for word in words if word)
            raise Failure(USAGE, f"name a command{' after ' + what if what else ''} (see --help)")
        return handler(args)
    except Failure as failure:
        sys.stdout.flush()
        sys.stderr.write(f"miosa: {one_line(failure.message)}\n")
        return failure.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Whoever read stdout stopped (`miosa env pull | head`): not worth a traceback.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
