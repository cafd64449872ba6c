#!/usr/bin/env python3
"""miosa: the command-line client of MIOSA Environments (SPEC §11).

One file, standard library only, Python 3.9 or newer: copy it into any runtime image.

    MIOSA_URL=https://environments.example.com MIOSA_TOKEN=... miosa run -- ./server
    miosa env pull --format dotenv -o .env
    miosa promote --deployment shop --from staging --expected-version 17
    miosa data create --deployment shop --environment staging --kind postgres --wait
    miosa data rotate --deployment shop 7 --wait

The token comes from MIOSA_TOKEN or from the first line of --token-file PATH, never from an
argument (it would show in `ps` and in shell history). In CI, `versions create`, `deploy`,
`promote`, `apply`, `rollback` and `env import` can do without one: with MIOSA_OIDC_AUDIENCE
set inside GitHub Actions (or MIOSA_OIDC_TOKEN holding an ID token), they first exchange the
CI provider's ID token for a short-lived token (SPEC §16). Exit codes: 0 ok, 1 refused by the
server (its message is printed), 2 usage, 3 server unreachable. `run` exits with the
command's own code once the command has started (127 when it is not found, 126 when it
cannot be executed).
"""

from __future__ import annotations

import argparse
import calendar
import contextlib
import hashlib
import hmac
import http.client
import importlib
import ipaddress
import json
import os
import random
import re
import select
import signal
import socket
import stat
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
# `run` retries its first fetch this long (SPEC §18), with jittered exponential backoff.
BOOT_TIMEOUT = 60.0
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 10.0
# The longest Retry-After a watch poll waits for.
MAX_POLL_WAIT = 3600.0
INSTANCE_RE = re.compile(r"[A-Za-z0-9._:-]{1,100}")
FORMATS = ("dotenv", "json", "shell")
DATA_KINDS = ("postgres", "redis", "bucket")
# `data create --wait` polls the service's state, first after POLL_FIRST seconds, the gaps
# growing to POLL_MAX, for at most --wait-timeout seconds.
POLL_FIRST = 0.5
POLL_MAX = 5.0
WAIT_TIMEOUT = 900.0
# A change request is open for at most 7 days (SPEC §15); --wait polls it up to every
# REQUEST_POLL_MAX seconds.
REQUEST_WAIT_TIMEOUT = 7 * 24 * 3600.0
REQUEST_POLL_MAX = 15.0


class Failure(Exception):
    """Ends the command: `message` on one line to stderr, then exit `code`. A server's answer
    also gives its HTTP `status` and the seconds of its Retry-After (`retry_after`), if any."""

    def __init__(
        self, code: int, message: str, *, status: int | None = None, retry_after=None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        """Worth another try: unreachable, or a 429 or 5xx answer (a balancer's 502/503)."""
        return self.code == UNREACHABLE or self.status == 429 or (self.status or 0) >= 500


# C0 and C1 control characters and the bidirectional overrides: a server's message must not
# drive the terminal it is printed on (colours, cursor moves, a title, text shown reversed).
CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def one_line(text: str) -> str:
    return CONTROL_RE.sub("", " ".join(str(text).split()))


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
        "current one (without MIOSA_TOKEN). An unreachable server is retried for "
        "--boot-timeout, then CMD boots from the sealed fallback of the last fetch; CMD does "
        "not start if the fetch is refused or there is no fallback.",
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
    run.add_argument(
        "--boot-timeout",
        type=non_negative,
        default=BOOT_TIMEOUT,
        metavar="SECONDS",
        help="retry an unreachable server (or its 429 and 5xx answers) this long before "
        f"booting from the fallback (default {BOOT_TIMEOUT:g}; 0: one try)",
    )
    run.add_argument(
        "--no-fallback",
        action="store_true",
        help="neither keep nor use the sealed fallback copy of the environment",
    )
    run.add_argument(
        "--preserve-env",
        nargs="+",
        action="extend",
        default=[],
        metavar="NAME",
        help="keep these variables' local values over the fetched ones (NAME,NAME works too)",
    )
    run.add_argument(
        "--command",
        dest="shell_command",
        metavar="'COMMAND'",
        help="run COMMAND through sh -c instead of CMD",
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

    data = commands.add_parser(
        "data", parents=[common], help="data services: a Postgres, Redis or bucket MIOSA creates"
    )
    data_commands = data.add_subparsers(dest="data_command", metavar="COMMAND", parser_class=Parser)
    data_create = data_commands.add_parser(
        "create", parents=[common], help="create a data service for an environment and bind it"
    )
    add_target(data_create)
    data_create.add_argument("--kind", required=True, choices=DATA_KINDS)
    data_create.add_argument("--server", metavar="S", help="the data server (default: the first)")
    data_create.add_argument("--name", metavar="N", help="default: the deployment and the kind")
    data_create.add_argument(
        "--variable", metavar="V", help="the variable its URL is injected as (e.g. DATABASE_URL)"
    )
    data_create.add_argument(
        "--copy-from", metavar="E", help="copy E's service of the kind (never production)"
    )
    data_create.set_defaults(handler=cmd_data_create)
    data_list = data_commands.add_parser("list", parents=[common], help="list data services")
    data_list.add_argument("--deployment", required=True, metavar="D", help="id or name")
    data_list.add_argument("--environment", metavar="E", help="only this environment's")
    data_list.set_defaults(handler=cmd_data_list)
    data_destroy = data_commands.add_parser(
        "destroy", parents=[common], help="destroy a data service (or detach it)"
    )
    data_destroy.add_argument("--deployment", required=True, metavar="D", help="id or name")
    data_destroy.add_argument("service", type=positive_int, metavar="SERVICE_ID")
    data_destroy.add_argument(
        "--detach",
        action="store_true",
        help="remove its binding but keep the database, ACL user or bucket on its server",
    )
    data_destroy.set_defaults(handler=cmd_data_destroy)
    data_retry = data_commands.add_parser(
        "retry", parents=[common], help="provision a failed data service again"
    )
    data_retry.add_argument("--deployment", required=True, metavar="D", help="id or name")
    data_retry.add_argument("service", type=positive_int, metavar="SERVICE_ID")
    data_retry.set_defaults(handler=cmd_data_retry)
    data_rotate = data_commands.add_parser(
        "rotate",
        parents=[common],
        help="rotate a data service's credential; the old one is revoked once every instance "
        "runs on the new one",
    )
    data_rotate.add_argument("--deployment", required=True, metavar="D", help="id or name")
    data_rotate.add_argument("service", type=positive_int, metavar="SERVICE_ID")
    data_rotate.set_defaults(handler=cmd_data_rotate)
    for command in (data_create, data_retry, data_rotate):
        command.add_argument(
            "--wait",
            action="store_true",
            help="wait until the old credential is revoked (exit 0) or the rotation is stuck, "
            "failed or cancelled (exit 1), printing its progress"
            if command is data_rotate
            else "wait until it is ready (exit 0) or failed (exit 1, the error printed)",
        )
        command.add_argument(
            "--wait-timeout",
            type=positive,
            default=WAIT_TIMEOUT,
            metavar="SECONDS",
            help=f"with --wait: give up after SECONDS (default {WAIT_TIMEOUT:g}; exit 1)",
        )

    for command in (deploy, promote, apply, rollback):
        command.add_argument(
            "--reason",
            default="",
            metavar="TEXT",
            help="why; shown to the reviewers when "
            "the environment is protected and a change request is opened instead",
        )
        command.add_argument(
            "--wait",
            action="store_true",
            help="when a change request is opened, wait until it is applied (exit 0) or "
            "rejected, stale, expired or cancelled (exit 1)",
        )
        command.add_argument(
            "--wait-timeout",
            type=positive,
            default=REQUEST_WAIT_TIMEOUT,
            metavar="SECONDS",
            help="with --wait: give up after SECONDS (default: 7 days, when a request expires)",
        )

    for command in (
        create,
        deploy,
        promote,
        apply,
        rollback,
        imp,
        data_create,
        data_list,
        data_destroy,
        data_retry,
        data_rotate,
    ):
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
        self.token = token  # empty: no Authorization header (the OIDC exchange)
        self.timeout = timeout
        self.opener = urllib.request.build_opener(NoRedirects())
        # Deployment names whose id is known already (an OIDC exchange answers it).
        self.deployment_ids: dict = {}

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
        retries: int | None = None,
        timeout: float | None = None,
    ) -> Response:
        url = self.url + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        # The scheme is http or https: connect() checked MIOSA_URL.
        request = urllib.request.Request(url, data=body, method=method)  # noqa: S310
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "application/json")
        request.add_header("User-Agent", f"miosa/{__version__}")
        if body is not None:
            request.add_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        if retries is None:
            retries = RATE_LIMIT_RETRIES if method in ("GET", "HEAD") else 0
        while True:
            response = self.send(request, timeout or self.timeout)
            wait = retry_after(response) if retries else None
            if wait is None:
                break
            retries -= 1
            warn(f"rate limited by the server; retrying in {wait:g} s")
            SIGNALS.pause(wait)
        if response.status not in accept:
            raise refused(response)
        return response

    def send(self, request: urllib.request.Request, timeout: float) -> Response:
        try:
            with self.opener.open(request, timeout=timeout) as answer:
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
        kwargs.setdefault("accept", (200, 201))
        return self.request("POST", path, body=json.dumps(payload).encode("utf-8"), **kwargs)


def retry_after(response: Response):
    """Seconds to wait before retrying a 429, or None when it is no 429 or the wait is not
    a number of seconds within MAX_RETRY_WAIT."""
    if response.status != 429:
        return None
    wait = retry_after_seconds(response)
    return wait if wait is not None and wait <= MAX_RETRY_WAIT else None


def retry_after_seconds(response: Response):
    """The answer's Retry-After as a number of seconds, or None (absent, or an HTTP date)."""
    try:
        wait = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return wait if 0 <= wait < 1e9 else None


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
    return Failure(
        REFUSED, one_line(message), status=status, retry_after=retry_after_seconds(response)
    )


def connect(args) -> Client:
    return Client(server_url(args), read_token(args), getattr(args, "timeout", None) or TIMEOUT)


def server_url(args) -> str:
    url = getattr(args, "url", None) or os.environ.get("MIOSA_URL", "")
    url = url.strip().rstrip("/")
    if not url:
        raise Failure(USAGE, "no server: set MIOSA_URL (e.g. https://environments.example.com)")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Failure(USAGE, f"MIOSA_URL must be an http:// or https:// URL, not {url!r}")
    if parts.query or parts.fragment:
        raise Failure(USAGE, "MIOSA_URL takes no query string or fragment")
    if "@" in parts.netloc:
        raise Failure(USAGE, "MIOSA_URL takes no user:password@: set MIOSA_TOKEN instead")
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        warn(
            f"{url} is plain http:// to another machine: the token and every value cross the "
            "network unencrypted (use https://)"
        )
    return url


# CI without long-lived tokens (SPEC §16) ----------------------------------------------------


def connect_ci(args) -> Client:
    """connect() for the CI commands: with MIOSA_OIDC_TOKEN, or MIOSA_OIDC_AUDIENCE inside
    GitHub Actions, the CI provider's ID token is first exchanged for a short-lived token of
    the deployment (POST /api/v1/oidc/token, no Authorization header); else MIOSA_TOKEN."""
    timeout = getattr(args, "timeout", None) or TIMEOUT
    id_token = oidc_id_token(timeout)
    if id_token is None:
        return connect(args)
    client = Client(server_url(args), "", timeout)
    # An ID token is exchanged once (its jti): a given one (MIOSA_OIDC_TOKEN) serves the
    # commands of a job through the token it was exchanged for, kept until it expires.
    kept = oidc_kept_path(client.url, args.deployment, id_token)
    answer = read_kept_exchange(kept)
    if answer is None:
        answer = client.post_json(
            "/api/v1/oidc/token", {"deployment": args.deployment, "token": id_token}, accept=(201,)
        ).json()
        if not isinstance(answer, dict) or not OIDC_TOKEN_RE.fullmatch(str(answer.get("token"))):
            raise Failure(REFUSED, "the server's answer to the OIDC exchange holds no token")
        warn(
            "exchanged the CI provider's ID token for a {role} token on {environments} until "
            "{expires_at}".format(
                role=answer.get("role"),
                environments=", ".join(answer.get("environments") or []),
                expires_at=answer.get("expires_at"),
            )
        )
        if kept and os.environ.get("MIOSA_OIDC_TOKEN", "").strip():
            with contextlib.suppress(OSError):
                os.makedirs(os.path.dirname(kept), mode=0o700, exist_ok=True)
                write_private(kept, json.dumps(answer).encode("utf-8"))
    client.token = answer["token"]
    deployment = answer.get("deployment") or {}
    if isinstance(deployment.get("id"), int):
        client.deployment_ids[args.deployment] = deployment["id"]
    return client


OIDC_TOKEN_RE = re.compile(r"mio_oidc_[A-Za-z0-9_-]{16,200}")


def oidc_kept_path(url: str, deployment: str, id_token: str):
    """Where the exchange of this ID token is kept (0600; its name reveals nothing)."""
    directory = cache_directory()
    if directory is None:
        return None
    digest = hashlib.sha256(f"{url}\n{deployment}\n{id_token}".encode()).hexdigest()
    return os.path.join(directory, f"oidc-{digest[:40]}.json")


def read_kept_exchange(path):
    """A kept exchange's answer while its token has more than a minute left, else None."""
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as file:
            answer = json.load(file)
        expires = time.strptime(answer["expires_at"], "%Y-%m-%dT%H:%M:%SZ")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if calendar.timegm(expires) - time.time() < 60 or not OIDC_TOKEN_RE.fullmatch(
        str(answer.get("token"))
    ):
        return None
    return answer


def oidc_id_token(timeout: float):
    """MIOSA_OIDC_TOKEN; else, with MIOSA_OIDC_AUDIENCE set, an ID token for that audience from
    GitHub Actions (ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN, given to a job with
    `permissions: id-token: write`); else None (no exchange)."""
    given = os.environ.get("MIOSA_OIDC_TOKEN", "").strip()
    if given:
        return given
    audience = os.environ.get("MIOSA_OIDC_AUDIENCE", "").strip()
    if not audience:
        return None
    url = os.environ.get("ACTIONS_ID_TOKEN_REQUEST_URL", "").strip()
    bearer = os.environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "").strip()
    if not url or not bearer:
        raise Failure(
            USAGE,
            "MIOSA_OIDC_AUDIENCE is set but ACTIONS_ID_TOKEN_REQUEST_URL and "
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN are not: run inside GitHub Actions with "
            "`permissions: id-token: write`, or set MIOSA_OIDC_TOKEN",
        )
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https" and not (
        parts.scheme == "http" and is_loopback(parts.hostname or "")
    ):
        raise Failure(USAGE, "ACTIONS_ID_TOKEN_REQUEST_URL must be an https:// URL")
    separator = "&" if parts.query else "?"
    requested = f"{url}{separator}audience={urllib.parse.quote(audience, safe='')}"
    request = urllib.request.Request(requested, method="GET")  # noqa: S310 (checked above)
    request.add_header("Authorization", f"Bearer {bearer}")
    request.add_header("Accept", "application/json")
    # A Client for its sending: no redirect followed, errors as exit codes.
    response = Client(f"{parts.scheme}://{parts.netloc}", "", timeout).send(request, timeout)
    if response.status != 200:
        raise Failure(REFUSED, f"GitHub Actions did not give an ID token (HTTP {response.status})")
    answer = response.json()
    value = answer.get("value") if isinstance(answer, dict) else None
    if not isinstance(value, str) or not value:
        raise Failure(REFUSED, "GitHub Actions answered without an ID token (no value)")
    return value


def is_loopback(host: str) -> bool:
    """localhost, *.localhost (RFC 6761), 127.0.0.0/8 or ::1."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
        with contextlib.suppress(OSError):
            mode = stat.S_IMODE(os.stat(path).st_mode)
            if mode & 0o044:
                warn(
                    f"the token file {path} is readable by other users (mode {mode:04o}): "
                    f"chmod 600 {path}"
                )
        return token
    token = os.environ.get("MIOSA_TOKEN", "").strip()
    if not token:
        raise Failure(USAGE, "no token: set MIOSA_TOKEN or pass --token-file PATH")
    return token


def deployment_id(client: Client, given: str) -> int:
    """The id of the deployment named by its id or by its name."""
    if re.fullmatch(r"[0-9]{1,18}", given):
        return int(given)
    if given in client.deployment_ids:
        return client.deployment_ids[given]
    listing = client.get("/api/v1/deployments").json()
    for deployment in listing.get("deployments", []):
        if deployment.get("name") == given:
            return int(deployment["id"])
    raise Failure(REFUSED, f"no deployment named {given} is visible to this token")


# Output -----------------------------------------------------------------------------------


def say(text: str) -> None:
    sys.stdout.write(CONTROL_RE.sub("", text) + "\n")
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
    client = connect_ci(args)
    path = f"/api/v1/deployments/{deployment_id(client, args.deployment)}/versions"
    version = client.post_json(path, {"label": args.label, "notes": args.notes}).json()
    say(json.dumps(version) if args.json else str(version["number"]))
    return OK


def cmd_deploy(args) -> int:
    payload = {"environment": args.environment, "version": args.version}
    return release_or_request(args, "deploy", payload)


def cmd_promote(args) -> int:
    payload: dict = {"from": args.source}
    if args.target is not None:
        payload["to"] = args.target
    if hasattr(args, "expected_version"):
        payload["expected_version"] = args.expected_version
    return release_or_request(args, "promote", payload)


def cmd_apply(args) -> int:
    payload: dict = {"environment": args.environment}
    if args.expected_revision is not None:
        payload["expected_revision"] = args.expected_revision
    return release_or_request(args, "apply", payload)


def cmd_rollback(args) -> int:
    payload = {
        "environment": args.environment,
        "release": args.release,
        "config": "keep" if args.version_only else "restore",
    }
    return release_or_request(args, "rollback", payload)


# Change requests: a protected environment answers 202 with one instead of a release ----------


def release_or_request(args, action: str, payload: dict) -> int:
    client = connect_ci(args)
    deployment = deployment_id(client, args.deployment)
    if args.reason:
        payload["reason"] = args.reason
    path = f"/api/v1/deployments/{deployment}/{action}"
    response = client.post_json(path, payload, accept=(200, 201, 202))
    if response.status != 202:
        show_release(response.json(), args.json)
        return OK
    request = response.json()["change_request"]
    show_request(client, deployment, request, args.json)
    if not args.wait:
        return OK
    return wait_for_request(client, deployment, request, args)


def request_url(client: Client, deployment: int, request: dict) -> str:
    return f"{client.url}/deployments/{deployment}/change-requests/{request.get('id')}/"


def show_request(client: Client, deployment: int, request: dict, as_json: bool) -> None:
    if as_json:
        say(json.dumps(request))
        return
    target = request.get("target") or {}
    approvals = [a for a in request.get("approvals") or [] if a.get("decision") == "approve"]
    say(
        "{environment} is protected: change request {id} is {state} ({kind} of version "
        "{version}, {approved} of {required} approvals): {url}".format(
            environment=request.get("environment"),
            id=request.get("id"),
            state=request.get("state"),
            kind=request.get("kind"),
            version=target.get("version"),
            approved=len(approvals),
            required=request.get("required_approvals"),
            url=request_url(client, deployment, request),
        )
    )


def wait_for_request(client: Client, deployment: int, request: dict, args) -> int:
    """Poll until the request is no longer open: applied is 0; rejected, stale, expired or
    cancelled 1."""
    path = f"/api/v1/deployments/{deployment}/change-requests/{request.get('id')}"
    deadline = time.monotonic() + args.wait_timeout
    pause = POLL_FIRST
    while request.get("state") == "open":
        if time.monotonic() + pause > deadline:
            raise Failure(
                REFUSED,
                f"change request {request.get('id')} is still open after "
                f"{args.wait_timeout:g} s: {request_url(client, deployment, request)}",
            )
        SIGNALS.pause(pause)
        pause = min(pause * 2, REQUEST_POLL_MAX)
        request = client.get(path).json()["change_request"]
    show_request(client, deployment, request, args.json)
    if request.get("state") == "applied":
        return OK
    raise Failure(REFUSED, f"change request {request.get('id')} is {request.get('state')}")


# Data services ----------------------------------------------------------------------------


def data_path(client: Client, args, *parts) -> str:
    base = f"/api/v1/deployments/{deployment_id(client, args.deployment)}/data-services"
    return "/".join([base, *(str(part) for part in parts)])


DATA_FIELDS = ("id", "environment", "kind", "name", "variable", "server", "state")


def show_service(service: dict, as_json: bool) -> None:
    if as_json:
        say(json.dumps(service))
        return
    # Columns two spaces apart (say() drops control characters, tabs included).
    columns = [str(service.get(name)) for name in DATA_FIELDS]
    if service.get("error"):
        columns.append(str(service["error"]))
    say("  ".join(columns))


def wait_for_service(client: Client, path: str, service: dict, args) -> int:
    """Poll until the service is no longer provisioning: ready is 0, failed 1."""
    deadline = time.monotonic() + args.wait_timeout
    pause = POLL_FIRST
    while service.get("state") == "provisioning":
        if time.monotonic() + pause > deadline:
            raise Failure(
                REFUSED,
                f"data service {service.get('id')} is still provisioning after "
                f"{args.wait_timeout:g} s; see `miosa data list`",
            )
        SIGNALS.pause(pause)
        pause = min(pause * 2, POLL_MAX)
        service = client.get(path).json()["data_service"]
    show_service(service, args.json)
    if service.get("state") == "ready":
        return OK
    raise Failure(
        REFUSED,
        f"data service {service.get('id')} is {service.get('state')}: "
        f"{service.get('error') or 'no error given'} (retry: miosa data retry "
        f"--deployment {args.deployment} {service.get('id')})",
    )


def cmd_data_create(args) -> int:
    client = connect(args)
    path = data_path(client, args)
    payload = {"environment": args.environment, "kind": args.kind}
    for name in ("server", "name", "variable", "copy_from"):
        if getattr(args, name) is not None:
            payload[name] = getattr(args, name)
    service = client.post_json(path, payload, accept=(202,)).json()["data_service"]
    if args.wait:
        return wait_for_service(client, data_path(client, args, service["id"]), service, args)
    show_service(service, args.json)
    return OK


def cmd_data_list(args) -> int:
    client = connect(args)
    params = {"environment": args.environment} if args.environment else None
    listing = client.get(data_path(client, args), params=params).json()
    if args.json:
        say(json.dumps(listing["data_services"]))
        return OK
    for service in listing["data_services"]:
        show_service(service, False)
    return OK


def cmd_data_destroy(args) -> int:
    client = connect(args)
    mode = "detach" if args.detach else "destroy"
    service = client.request(
        "DELETE", data_path(client, args, args.service), params={"mode": mode}, accept=(202,)
    ).json()["data_service"]
    show_service(service, args.json)
    return OK


def cmd_data_retry(args) -> int:
    client = connect(args)
    path = data_path(client, args, args.service)
    service = client.post_json(f"{path}/retry", {}, accept=(202,)).json()["data_service"]
    if args.wait:
        return wait_for_service(client, path, service, args)
    show_service(service, args.json)
    return OK


ROTATION_DONE = ("revoked", "stuck", "failed", "cancelled")


def show_rotation(rotation: dict, as_json: bool) -> None:
    if as_json:
        say(json.dumps(rotation))
        return
    counts = rotation.get("instances") or {}
    columns = [
        f"rotation {rotation.get('id')}",
        str(rotation.get("state")),
        f"{counts.get('on_new')} of {counts.get('total')} instances on the new credential",
    ]
    old = rotation.get("instances_on_old") or []
    if old:
        columns.append(
            "on the old: "
            + ", ".join(f"{i.get('id')} (release {i.get('release')})" for i in old[:10])
            + (f" and {len(old) - 10} more" if len(old) > 10 else "")
        )
    if rotation.get("error"):
        columns.append(str(rotation["error"]))
    step = rotation.get("next") or {}
    if step.get("message"):
        columns.append(f"next: {step['message']}" + (f" ({step['at']})" if step.get("at") else ""))
    say("  ".join(columns))


def cmd_data_rotate(args) -> int:
    """Start a rotation; with --wait, print its progress as it changes and exit 0 once the old
    credential is revoked, 1 when it is stuck, failed or cancelled."""
    client = connect(args)
    path = data_path(client, args, args.service)
    rotation = client.post_json(f"{path}/rotate", {}, accept=(202,)).json()["rotation"]
    show_rotation(rotation, args.json)
    if not args.wait:
        return OK
    detail = f"{path}/rotations/{rotation['id']}"
    deadline = time.monotonic() + args.wait_timeout
    pause = POLL_FIRST
    shown = rotation
    while rotation.get("state") not in ROTATION_DONE:
        if time.monotonic() + pause > deadline:
            raise Failure(
                REFUSED,
                f"rotation {rotation.get('id')} is still {rotation.get('state')} after "
                f"{args.wait_timeout:g} s",
            )
        SIGNALS.pause(pause)
        pause = min(pause * 2, POLL_MAX)
        rotation = client.get(detail).json()["rotation"]
        if (rotation.get("state"), rotation.get("instances")) != (
            shown.get("state"),
            shown.get("instances"),
        ):
            show_rotation(rotation, args.json)
            shown = rotation
    if rotation.get("state") == "revoked":
        return OK
    raise Failure(
        REFUSED,
        f"rotation {rotation.get('id')} is {rotation.get('state')}"
        + (f": {rotation['error']}" if rotation.get("error") else "")
        + (
            f" ({(rotation.get('next') or {}).get('message')})"
            if rotation.get("state") == "stuck"
            else ""
        ),
    )


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
    client = connect_ci(args)
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
    """The dry run's answer, by key name: + added, ~ changed or replaced (an existing secret,
    never said to be the same), = unchanged are counted."""
    secrets = set(diff.get("secret_keys") or [])
    for sign, label in (("+", "added"), ("~", "changed"), ("~", "replaced")):
        for key in diff.get(label) or []:
            say(f"{sign} {key}{' (secret)' if key in secrets else ''}")
    say(
        "dry run: {} to add, {} to change, {} unchanged in {}; nothing written".format(
            len(diff.get("added") or []),
            len(diff.get("changed") or []) + len(diff.get("replaced") or []),
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
    client: Client, fmt: str, instance: str | None, etag: str | None = None, **kwargs
) -> Response:
    headers = {}
    if instance:
        headers["X-Miosa-Instance"] = instance
    if etag:
        headers["If-None-Match"] = etag
    return client.get(
        "/api/v1/runtime/env",
        params={"format": fmt},
        headers=headers,
        accept=(200, 304),
        **kwargs,
    )


# Where `env pull -o` writes ---------------------------------------------------------------

# This process's own open files: /dev/stdout, /dev/stderr, /dev/fd/N, /proc/self/fd/N.
OWN_FILES = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}
OWN_FILE_RE = re.compile(r"/(?:dev/fd|proc/self/fd)/([0-9]{1,9})")
SYSTEM_DIRECTORIES = ("/dev", "/proc", "/sys")


def output_target(path: str) -> tuple[str, str]:
    """How `env pull -o PATH` writes, decided before anything is written:

    - ("stdout", "-"): "-", /dev/stdout, /dev/fd/1;
    - ("fd", "N"): another of this process's open files (/dev/stderr, /dev/fd/N);
    - ("through", PATH): a device, a FIFO, a socket, or anything in /dev, /proc or /sys (through
      a symbolic link too) is opened and written, never replaced: as root, a rename over
      /dev/null would break the whole machine;
    - ("replace", TARGET): a regular file, or none yet, replaced atomically; through a symbolic
      link that is the link's final target, replaced in its own directory (the link stays).
    """
    if path == "-":
        return ("stdout", "-")
    absolute = os.path.abspath(path)
    number = OWN_FILES.get(absolute)
    own = OWN_FILE_RE.fullmatch(absolute)
    if own:
        number = int(own.group(1))
    if number == 1:
        return ("stdout", "-")
    if number is not None:
        return ("fd", str(number))
    target = os.path.realpath(path)
    if any(inside(name, SYSTEM_DIRECTORIES) for name in (absolute, target)):
        return ("through", path)
    try:
        mode = os.stat(target).st_mode
    except OSError:
        return ("replace", target)  # none yet (or unreadable: the write says why)
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return ("replace", target)  # a directory: os.replace refuses it
    return ("through", path)


def inside(path: str, directories: tuple) -> bool:
    return any(path == name or path.startswith(name + "/") for name in directories)


def write_all(fd: int, body: bytes) -> None:
    view = memoryview(body)
    while view:
        view = view[os.write(fd, view) :]


def write_through(path: str, body: bytes) -> None:
    """Open an existing device or FIFO and write: no O_CREAT, no chmod, no rename."""
    fd = os.open(path, os.O_WRONLY | os.O_NOCTTY)
    try:
        write_all(fd, body)
    finally:
        os.close(fd)


def cmd_env_pull(args) -> int:
    instance = checked_instance(args.instance) if args.instance else None
    client = connect(args)
    body = fetch_runtime(client, args.format, instance).body
    how, target = output_target(args.output or "-")
    if how == "stdout":
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
        return OK
    try:
        if how == "fd":
            write_all(int(target), body)
        elif how == "through":
            write_through(target, body)
        else:
            write_private(target, body)
    except OSError as error:
        raise Failure(USAGE, f"cannot write {args.output}: {one_line(error)}") from None
    return OK


def write_private(path: str, body: bytes) -> None:
    """Write `body` to the regular file `path` with mode 0600, replacing it atomically: the
    file is whole or absent, and no other user can read it at any moment. Never renames over
    anything but a regular file (OSError)."""
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
        with contextlib.suppress(FileNotFoundError):
            # Checked again at the last moment: it may have changed since it was chosen.
            if not stat.S_ISREG(os.lstat(path).st_mode):
                raise OSError(f"{path} is not a regular file: not replaced")
        os.replace(temporary, path)
        temporary = None
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


# The sealed fallback ----------------------------------------------------------------------

# A fallback file: MAGIC, the algorithm (one byte), its nonce, then the sealed record. The
# header and the URL are authenticated with it, so a file moved to another URL does not open.
FALLBACK_MAGIC = b"MIOSAFB1"
CHACHA, HMAC_CTR = b"C", b"H"
NONCE_SIZE = {CHACHA: 12, HMAC_CTR: 16}
TAG_SIZE = {CHACHA: 16, HMAC_CTR: 32}
DOES_NOT_OPEN = "it does not open with this token (tampered with, truncated, or another token's)"


class SealError(Exception):
    """A fallback that cannot be opened; the message says why."""


def chacha20_poly1305():
    """cryptography's ChaCha20Poly1305 when it is importable (it is optional), else None. An
    import by name: the client imports nothing outside the standard library unconditionally."""
    try:
        aead = importlib.import_module("cryptography.hazmat.primitives.ciphers.aead")
        aead.ChaCha20Poly1305(bytes(32))  # an OpenSSL without ChaCha20 refuses here
    except Exception:
        return None
    return aead.ChaCha20Poly1305


def fallback_keys(token: str) -> dict:
    """One key per use, derived from the runtime token with HKDF-SHA256 (RFC 5869, one block
    each). The token is a random secret, so a slow password hash would add nothing."""
    prk = hmac.new(b"miosa fallback v1", token.encode("ascii"), hashlib.sha256).digest()
    return {
        label: hmac.new(prk, label.encode("ascii") + b"\x01", hashlib.sha256).digest()
        for label in ("file name", "chacha20-poly1305", "hmac-sha256-ctr", "hmac-sha256 tag")
    }


def hmac_ctr(key: bytes, nonce: bytes, data: bytes) -> bytes:
    """XOR with the key stream HMAC-SHA256(key, nonce || counter): encrypts and decrypts."""
    stream = b"".join(
        hmac.new(key, nonce + counter.to_bytes(8, "big"), hashlib.sha256).digest()
        for counter in range((len(data) + 31) // 32)
    )[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(len(data), "big")


def hmac_tag(key: bytes, associated: bytes, ciphertext: bytes) -> bytes:
    return hmac.new(
        key, len(associated).to_bytes(8, "big") + associated + ciphertext, hashlib.sha256
    ).digest()


def seal(token: str, url: str, plaintext: bytes) -> bytes:
    keys = fallback_keys(token)
    aead = chacha20_poly1305()
    algorithm = HMAC_CTR if aead is None else CHACHA
    nonce = os.urandom(NONCE_SIZE[algorithm])
    header = FALLBACK_MAGIC + algorithm + nonce
    associated = header + url.encode("utf-8")
    if aead is not None:
        return header + aead(keys["chacha20-poly1305"]).encrypt(nonce, plaintext, associated)
    # Encrypt-then-MAC with separate keys.
    ciphertext = hmac_ctr(keys["hmac-sha256-ctr"], nonce, plaintext)
    return header + ciphertext + hmac_tag(keys["hmac-sha256 tag"], associated, ciphertext)


def unseal(token: str, url: str, blob: bytes) -> bytes:
    algorithm = blob[len(FALLBACK_MAGIC) : len(FALLBACK_MAGIC) + 1]
    if not blob.startswith(FALLBACK_MAGIC) or algorithm not in NONCE_SIZE:
        raise SealError("it is not a miosa fallback")
    start = len(FALLBACK_MAGIC) + 1 + NONCE_SIZE[algorithm]
    if len(blob) < start + TAG_SIZE[algorithm]:
        raise SealError("it is truncated")
    header, nonce, sealed = blob[:start], blob[len(FALLBACK_MAGIC) + 1 : start], blob[start:]
    associated = header + url.encode("utf-8")
    keys = fallback_keys(token)
    if algorithm == CHACHA:
        aead = chacha20_poly1305()
        if aead is None:
            raise SealError(
                "it is sealed with ChaCha20-Poly1305 and the cryptography package is not "
                "importable here"
            )
        try:
            return aead(keys["chacha20-poly1305"]).decrypt(nonce, sealed, associated)
        except Exception:  # cryptography.exceptions.InvalidTag
            raise SealError(DOES_NOT_OPEN) from None
    ciphertext, tag = sealed[: -TAG_SIZE[HMAC_CTR]], sealed[-TAG_SIZE[HMAC_CTR] :]
    if not hmac.compare_digest(tag, hmac_tag(keys["hmac-sha256 tag"], associated, ciphertext)):
        raise SealError(DOES_NOT_OPEN)
    return hmac_ctr(keys["hmac-sha256-ctr"], nonce, ciphertext)


def cache_directory():
    """$MIOSA_CACHE_DIR, else $XDG_CACHE_HOME/miosa, else ~/.cache/miosa (None: no home)."""
    given = os.environ.get("MIOSA_CACHE_DIR")
    if given:
        return os.path.abspath(given)
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):  # a relative one is to be ignored (XDG base directories)
        return os.path.join(xdg, "miosa")
    home = os.path.expanduser("~")
    return os.path.join(home, ".cache", "miosa") if os.path.isabs(home) else None


class Fallback:
    """The last environment fetched with this (URL, token), sealed, mode 0600, one file per
    (URL, token) in the cache directory; its name reveals neither."""

    def __init__(self, client: Client) -> None:
        self.client = client
        directory = cache_directory()
        name = hmac.new(
            fallback_keys(client.token)["file name"], client.url.encode("utf-8"), hashlib.sha256
        ).hexdigest()[:32]
        self.path = os.path.join(directory, f"{name}.fallback") if directory else None

    def keep(self, payload: dict, etag: str | None) -> None:
        if self.path is None:
            warn("no fallback is kept: no home directory (set MIOSA_CACHE_DIR)")
            return
        record = {"saved_at": int(time.time()), "etag": etag, "payload": payload}
        sealed = seal(self.client.token, self.client.url, json.dumps(record).encode("utf-8"))
        directory = os.path.dirname(self.path)
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            write_private(self.path, sealed)
        except OSError as error:
            warn(f"no fallback is kept in {directory}: {error}")

    def open(self, why: str) -> tuple:
        """(payload, etag) of the fallback, or Failure(UNREACHABLE) that says why not."""
        try:
            with open(self.path or "", "rb") as file:
                blob = file.read()
        except FileNotFoundError:
            raise Failure(UNREACHABLE, f"{why}, and there is no fallback to boot from") from None
        except OSError as error:
            raise Failure(
                UNREACHABLE, f"{why}; the fallback {self.path} cannot be read: {error}"
            ) from None
        try:
            record = json.loads(unseal(self.client.token, self.client.url, blob))
            payload, etag, saved_at = record["payload"], record["etag"], record["saved_at"]
            if not isinstance(payload.get("env"), dict):
                raise TypeError
        except SealError as error:
            raise Failure(
                UNREACHABLE, f"{why}; the fallback {self.path} is refused: {error}"
            ) from None
        except (ValueError, KeyError, TypeError, AttributeError):
            raise Failure(
                UNREACHABLE, f"{why}; the fallback {self.path} is refused: it holds no environment"
            ) from None
        saved = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(saved_at))
        warn(f"{why}: booting from the fallback saved {saved} (release {payload.get('release')})")
        return payload, etag


def boot(client: Client, instance: str, args) -> tuple:
    """`run`'s first fetch, (payload, etag). Connection errors, timeouts, 429 and 5xx are
    retried with jittered exponential backoff (Retry-After is honoured) for --boot-timeout;
    then the fallback is used. Any other refusal ends `run` at once (exit 1)."""
    fallback = None if args.no_fallback else Fallback(client)
    deadline = time.monotonic() + args.boot_timeout
    backoff = BACKOFF_FIRST
    while True:
        left = deadline - time.monotonic()
        # A server that accepts and never answers must not hold the boot past its timeout.
        timeout = min(client.timeout, max(1.0, left)) if args.boot_timeout else None
        try:
            with SIGNALS.interruptible():
                response = fetch_runtime(client, "json", instance, retries=0, timeout=timeout)
            payload = runtime_env(response)
            break
        except Failure as failure:
            if not failure.transient:
                raise
            last = failure
        left = deadline - time.monotonic()
        if left <= 0:
            why = last.message
            if args.boot_timeout:
                why += f" (for {args.boot_timeout:g} s)"
            if fallback is None:
                raise Failure(UNREACHABLE, why)
            return fallback.open(why)
        jittered = backoff * (0.5 + random.random() / 2)  # noqa: S311 (not a secret)
        wait = min(left, max(jittered, last.retry_after or 0.0))
        warn(f"{last.message}; retrying in {wait:.1f} s")
        SIGNALS.pause(wait)
        backoff = min(2 * backoff, BACKOFF_MAX)
    etag = response.headers.get("ETag")
    if fallback is not None:
        fallback.keep(payload, etag)
    return payload, etag


# The command's environment ----------------------------------------------------------------

TOKEN_VARIABLES = ("MIOSA_TOKEN", "MIOSA_TOKEN_FILE")


class ChildEnvironment:
    """The environment CMD runs with: miosa's own, the fetched values over it, the
    --preserve-env names' local values over those; never the token, never where it is kept
    (a variable naming the token file or holding the token is dropped too)."""

    def __init__(self, token: str, token_file: str | None, preserve: list) -> None:
        self.token = token
        self.paths = set()
        for path in (token_file, os.environ.get("MIOSA_TOKEN_FILE")):
            if path:
                self.paths |= {path, os.path.abspath(path), os.path.realpath(path)}
        self.preserve = preserve

    def build(self, payload: dict) -> dict:
        local = dict(os.environ)
        env = dict(local)
        env.update(payload["env"])
        env.update({name: local[name] for name in self.preserve if name in local})
        for name in list(env):
            if name in TOKEN_VARIABLES or (env[name] == local.get(name) and self.leaks(env[name])):
                del env[name]
        return env

    def leaks(self, value: str) -> bool:
        # A token is long: a short one ("t" in a test) must not empty the environment.
        return (
            value == self.token
            or value in self.paths
            or (len(self.token) >= 16 and self.token in value)
        )


def preserved_names(given: list) -> list:
    names = [name for item in given for name in item.split(",") if name]
    for name in names:
        if name in TOKEN_VARIABLES:
            raise Failure(USAGE, f"--preserve-env cannot keep {name}: CMD never gets the token")
    return names


# Running the command ----------------------------------------------------------------------


def cmd_run(args) -> int:
    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if args.shell_command is not None:
        if cmd:
            raise Failure(USAGE, "give --command or CMD, not both")
        cmd = ["/bin/sh", "-c", args.shell_command]
    if not cmd:
        raise Failure(USAGE, "name the command to run: miosa run -- CMD [ARG ...]")
    preserve = preserved_names(args.preserve_env)
    instance = checked_instance(args.instance) if args.instance else default_instance()
    client = connect(args)
    environment = ChildEnvironment(client.token, getattr(args, "token_file", None), preserve)
    SIGNALS.install()
    payload, etag = boot(client, instance, args)
    if args.watch is None:
        env = environment.build(payload)
        sys.stdout.flush()
        sys.stderr.flush()
        SIGNALS.restore_defaults()
        if SIGNALS.received is not None:
            return 128 + SIGNALS.received  # told to stop before CMD ran
        try:
            os.execvpe(cmd[0], cmd, env)  # noqa: S606 (running CMD is the point)
        except OSError as error:
            return cannot_start(cmd[0], error)
    if SIGNALS.received is not None:
        return 128 + SIGNALS.received
    fallback = None if args.no_fallback else Fallback(client)
    watcher = Watcher(client, instance, cmd, args.watch, args.grace, environment, fallback)
    return watcher.run(payload, etag)


def cannot_start(name: str, error: OSError) -> int:
    warn(f"cannot run {name}: {error.strerror or error}")
    return 127 if isinstance(error, FileNotFoundError) else 126


def exit_code(returncode: int) -> int:
    """A child killed by signal N exits 128 + N, as in a shell."""
    return 128 - returncode if returncode < 0 else returncode


# Passed on to CMD; the first three also end miosa (once CMD has stopped, if it runs).
STOPPING = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
FORWARDED = (*STOPPING, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)


class Interrupted(BaseException):
    """Raised by the signal handler inside an interruptible wait or request: it ends it."""

    def __init__(self, sig: int) -> None:
        super().__init__(sig)
        self.signal = sig


class Signals:
    """`run`'s signal handling. A stopping signal (SIGTERM, SIGINT, SIGQUIT) ends every wait
    (backoff, Retry-After, a request) at once; every signal in FORWARDED is passed on to the
    child's process group. The wake-up pipe closes the race of a signal arriving just before
    a wait begins."""

    def __init__(self) -> None:
        self.installed = False
        self.received = None  # the first stopping signal
        self.child = None  # the Popen whose process group gets the signals
        self.waiting = False
        self.wakeup = -1

    def install(self) -> None:
        read, write = os.pipe()
        os.set_blocking(read, False)
        os.set_blocking(write, False)
        signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        self.wakeup = read
        for sig in FORWARDED:
            signal.signal(sig, self.handle)
        self.installed = True

    def restore_defaults(self) -> None:
        """Before exec: CMD starts with default dispositions (Python ignores SIGPIPE)."""
        for sig in (*FORWARDED, signal.SIGPIPE, getattr(signal, "SIGXFSZ", signal.SIGPIPE)):
            signal.signal(sig, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)

    def handle(self, sig: int, frame) -> None:
        if sig in STOPPING and self.received is None:
            self.received = sig
        if self.child is not None and self.child.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.child.pid, sig)
        if self.waiting and self.received is not None:
            self.waiting = False
            raise Interrupted(self.received)

    @contextlib.contextmanager
    def interruptible(self):
        if self.received is not None:
            raise Interrupted(self.received)
        self.waiting = True
        try:
            yield
        finally:
            self.waiting = False

    def pause(self, seconds: float) -> None:
        if not self.installed:
            time.sleep(seconds)
            return
        deadline = time.monotonic() + seconds
        with self.interruptible():
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                select.select([self.wakeup], [], [], left)
                with contextlib.suppress(OSError):
                    os.read(self.wakeup, 512)


SIGNALS = Signals()


def parent_death_signal():
    """A preexec_fn that has Linux send the child SIGTERM when miosa dies, even by SIGKILL
    (prctl PR_SET_PDEATHSIG); None elsewhere, or without ctypes."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        ctypes = importlib.import_module("ctypes")
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):
        return None
    parent = os.getpid()

    def set_parent_death_signal() -> None:
        prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # miosa died before the prctl
            os.kill(os.getpid(), signal.SIGTERM)

    return set_parent_death_signal


class Watcher:
    """`run --watch`: CMD as a child in its own process group (so that a restart stops all
    it started, and a terminal's Ctrl-C reaches it once, through miosa); poll with
    If-None-Match and restart the group when the live release changes; pass signals on."""

    def __init__(
        self,
        client: Client,
        instance: str,
        cmd: list,
        every: float,
        grace: float,
        environment: ChildEnvironment,
        fallback: Fallback | None,
    ) -> None:
        self.client = client
        self.instance = instance
        self.cmd = cmd
        self.every = every
        self.grace = grace
        self.environment = environment
        self.fallback = fallback
        self.preexec = parent_death_signal()
        self.child = None

    def run(self, payload: dict, etag: str | None) -> int:
        release = live_release(payload)
        try:
            self.start(payload)
        except OSError as error:
            return cannot_start(self.cmd[0], error)
        next_poll = time.monotonic() + self.every
        while True:
            if SIGNALS.received is not None:
                # Passed on already: wait for the child to stop, whatever it takes.
                return exit_code(self.child.wait())
            try:
                code = self.child.wait(timeout=max(0.0, next_poll - time.monotonic()))
            except subprocess.TimeoutExpired:
                code = None
            if code is not None:
                return exit_code(code)
            if SIGNALS.received is not None:
                continue
            next_poll = time.monotonic() + self.every
            try:
                with SIGNALS.interruptible():
                    response = fetch_runtime(self.client, "json", self.instance, etag, retries=0)
                if response.status == 304:
                    continue
                payload = runtime_env(response)
            except Interrupted:
                continue
            except Failure as failure:
                wait = self.every
                if failure.retry_after is not None and failure.transient:
                    wait = min(max(wait, failure.retry_after), MAX_POLL_WAIT)
                    next_poll = time.monotonic() + wait
                warn(f"{failure.message}; CMD keeps running, next try in {wait:g} s")
                continue
            etag = response.headers.get("ETag") or etag
            if self.fallback is not None:
                self.fallback.keep(payload, etag)
            if live_release(payload) == release:
                continue
            release = live_release(payload)
            warn(f"release {payload.get('release')} is live: restarting {self.cmd[0]}")
            code = self.stop()
            if SIGNALS.received is not None:
                return exit_code(code)
            try:
                self.start(payload)
            except OSError as error:
                return cannot_start(self.cmd[0], error)

    def start(self, payload: dict) -> None:
        self.child = subprocess.Popen(  # noqa: S603 (running CMD is the point)
            self.cmd,
            env=self.environment.build(payload),
            start_new_session=True,
            preexec_fn=self.preexec,
        )
        SIGNALS.child = self.child
        if SIGNALS.received is not None:
            # Told to stop while the command restarted: the new one stops too.
            self.signal_group(SIGNALS.received)

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
                for name in ("env_command", "versions_command", "data_command")
                if hasattr(args, name)
            ]
            what = " ".join(word for word in words if word)
            raise Failure(USAGE, f"name a command{' after ' + what if what else ''} (see --help)")
        return handler(args)
    except Failure as failure:
        sys.stdout.flush()
        sys.stderr.write(f"miosa: {one_line(failure.message)}\n")
        return failure.code
    except Interrupted as stop:
        return 128 + stop.signal  # told to stop before CMD ran (SIGTERM: 143)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Whoever read stdout stopped (`miosa env pull | head`): not worth a traceback.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
