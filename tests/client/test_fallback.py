"""`miosa run` boots through an outage (SPEC §18): it retries, keeps a sealed fallback after
each successful fetch, and boots from it when the server stays unreachable. The server goes
down and comes back through a Balancer in front of the live server. Both sealing paths run:
the standard library's (`-I -S`: no site-packages, so `cryptography` cannot be imported) and
ChaCha20-Poly1305 (`-I`: the virtualenv's site-packages, `cryptography` in it)."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.utils import timezone

from environments import services
from environments.models import RuntimeToken

from .conftest import MIOSA, client_environment, wait_for
from .test_usage import NO_PY39, python_3_9

CANARY = "canary-7d41c9e0-never-in-the-file"
SHOW = (
    "import os, json; print(json.dumps({k: os.environ.get(k) for k in "
    "['API_URL', 'CANARY', 'MIOSA_RELEASE']}))"
)


@dataclass(frozen=True)
class Seal:
    name: str
    python: tuple[str, ...]
    algorithm: bytes  # the byte after the file's magic

    def __str__(self) -> str:
        return self.name


STDLIB = Seal("stdlib", (sys.executable, "-I", "-S"), b"H")
CHACHA = Seal("chacha20-poly1305", (sys.executable, "-I"), b"C")
SEALS = [
    STDLIB,
    CHACHA,
    pytest.param(
        Seal("stdlib-python3.9", (python_3_9() or "", "-I", "-S"), b"H"),
        marks=pytest.mark.skipif(python_3_9() is None, reason=NO_PY39),
    ),
]


def client(seal: Seal, *args: str, url: str, token: str, cache: Path, **env: str):
    return subprocess.run(
        [*seal.python, str(MIOSA), *args],
        env=client_environment(url, token, MIOSA_CACHE_DIR=str(cache), **env),
        cwd=cache.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def token(shipped, staging, actor, runtime_token):
    services.set_variable(
        environment=staging,
        key="API_URL",
        value="https://api.example",
        is_secret=False,
        actor=actor,
    )
    services.set_variable(
        environment=staging, key="CANARY", value=CANARY, is_secret=True, actor=actor
    )
    return runtime_token(staging)


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "cache"  # made by the client


@pytest.mark.parametrize("seal", SEALS, ids=str)
def test_an_instance_boots_from_the_fallback_while_the_server_is_down(seal, balancer, token, cache):
    first = client(
        seal, "run", "--", sys.executable, "-c", SHOW, url=balancer.url, token=token, cache=cache
    )
    assert first.returncode == 0, first.stderr
    assert first.stderr == ""
    values = json.loads(first.stdout)
    assert values == {"API_URL": "https://api.example", "CANARY": CANARY, "MIOSA_RELEASE": "3"}

    [fallback] = cache.iterdir()
    assert mode(fallback) == 0o600
    assert mode(cache) == 0o700
    sealed = fallback.read_bytes()
    assert sealed[:9] == b"MIOSAFB1" + seal.algorithm
    for plain in (CANARY, "https://api.example", "API_URL", token, balancer.url):
        assert plain.encode() not in sealed, plain
    assert token[:16] not in fallback.name and "127.0.0.1" not in fallback.name

    balancer.down()
    started = time.monotonic()
    second = client(
        seal,
        "run",
        "--boot-timeout",
        "1",
        "--",
        sys.executable,
        "-c",
        SHOW,
        url=balancer.url,
        token=token,
        cache=cache,
    )
    took = time.monotonic() - started
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout) == values
    *retries, booted = second.stderr.splitlines()
    assert retries and all("Connection refused; retrying in" in line for line in retries)
    assert booted.startswith(f"miosa: cannot reach {balancer.url}: ")
    assert "(for 1 s): booting from the fallback saved " in booted
    assert booted.endswith(" (release 3)")
    assert took < 15


def damage_flip(sealed: bytes, other: bytes) -> bytes:
    middle = len(sealed) // 2
    return sealed[:middle] + bytes([sealed[middle] ^ 0x01]) + sealed[middle + 1 :]


def damage_truncate(sealed: bytes, other: bytes) -> bytes:
    return sealed[:-7]


def damage_truncate_to_the_header(sealed: bytes, other: bytes) -> bytes:
    return sealed[:20]


def damage_other_token(sealed: bytes, other: bytes) -> bytes:
    return other  # another token's fallback, put where this token's is


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (damage_flip, "it does not open with this token"),
        (damage_truncate, "it does not open with this token"),
        (damage_truncate_to_the_header, "it is truncated"),
        (damage_other_token, "it does not open with this token"),
    ],
    ids=["flipped-byte", "truncated", "truncated-to-the-header", "other-token"],
)
@pytest.mark.parametrize("seal", [STDLIB, CHACHA], ids=str)
def test_a_fallback_that_does_not_open_is_refused_with_exit_3(
    seal, damage, reason, balancer, token, staging, runtime_token, cache
):
    other_token = runtime_token(staging)
    assert (
        client(
            seal, "run", "--", "true", url=balancer.url, token=other_token, cache=cache
        ).returncode
        == 0
    )
    [other] = cache.iterdir()
    assert (
        client(seal, "run", "--", "true", url=balancer.url, token=token, cache=cache).returncode
        == 0
    )
    # One file per (URL, token).
    [mine] = [path for path in cache.iterdir() if path != other]
    mine.write_bytes(damage(mine.read_bytes(), other.read_bytes()))

    balancer.down()
    result = client(
        seal,
        "run",
        "--boot-timeout",
        "0.5",
        "--",
        "touch",
        "started",
        url=balancer.url,
        token=token,
        cache=cache,
    )
    assert result.returncode == 3
    assert not (cache.parent / "started").exists()
    last = result.stderr.splitlines()[-1]
    assert last.startswith(f"miosa: cannot reach {balancer.url}")
    assert f"; the fallback {mine} is refused: {reason}" in last
    assert "Traceback" not in result.stderr


def test_a_chacha_fallback_without_cryptography_is_refused_and_says_why(balancer, token, cache):
    assert (
        client(CHACHA, "run", "--", "true", url=balancer.url, token=token, cache=cache).returncode
        == 0
    )
    balancer.down()
    result = client(
        STDLIB,
        "run",
        "--boot-timeout",
        "0",
        "--",
        "true",
        url=balancer.url,
        token=token,
        cache=cache,
    )
    assert result.returncode == 3
    assert "sealed with ChaCha20-Poly1305 and the cryptography package is not importable" in (
        result.stderr
    )


def test_without_a_fallback_an_outage_exits_3_after_the_boot_timeout(balancer, token, cache):
    balancer.down()
    started = time.monotonic()
    result = client(
        STDLIB,
        "run",
        "--boot-timeout",
        "1",
        "--",
        "touch",
        "started",
        url=balancer.url,
        token=token,
        cache=cache,
    )
    took = time.monotonic() - started
    assert result.returncode == 3
    assert not (cache.parent / "started").exists()
    assert result.stderr.splitlines()[-1].endswith(
        "(for 1 s), and there is no fallback to boot from"
    )
    assert 1 <= took < 15


def test_no_fallback_keeps_none_and_uses_none(balancer, token, cache):
    result = client(
        STDLIB, "run", "--no-fallback", "--", "true", url=balancer.url, token=token, cache=cache
    )
    assert result.returncode == 0, result.stderr
    assert not cache.exists()
    assert (
        client(STDLIB, "run", "--", "true", url=balancer.url, token=token, cache=cache).returncode
        == 0
    )
    assert len(list(cache.iterdir())) == 1

    balancer.down()
    result = client(
        STDLIB,
        "run",
        "--no-fallback",
        "--boot-timeout",
        "0.5",
        "--",
        "touch",
        "started",
        url=balancer.url,
        token=token,
        cache=cache,
    )
    assert result.returncode == 3
    assert "fallback" not in result.stderr
    assert not (cache.parent / "started").exists()


def test_a_balancers_503_is_retried_until_the_server_answers(balancer, token, cache):
    balancer.fail(3)
    result = client(
        STDLIB, "run", "--", sys.executable, "-c", SHOW, url=balancer.url, token=token, cache=cache
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["CANARY"] == CANARY
    lines = result.stderr.splitlines()
    assert len(lines) == 3
    assert all(
        line.startswith("miosa: the server answered HTTP 503; retrying in ") for line in lines
    )
    assert balancer.seen == [503, 503, 503, 200]
    assert len(list(cache.iterdir())) == 1  # kept after the successful fetch


def test_a_refusal_is_not_retried_and_the_fallback_is_not_used(balancer, token, cache, staging):
    assert (
        client(STDLIB, "run", "--", "true", url=balancer.url, token=token, cache=cache).returncode
        == 0
    )
    RuntimeToken.objects.filter(environment=staging).update(revoked_at=timezone.now())
    result = client(
        STDLIB, "run", "--", "touch", "started", url=balancer.url, token=token, cache=cache
    )
    assert result.returncode == 1
    assert "HTTP 401" in result.stderr and "fallback" not in result.stderr
    assert balancer.seen == [200, 401]
    assert not (cache.parent / "started").exists()


@pytest.mark.parametrize(
    ("env", "where"),
    [
        ({"XDG_CACHE_HOME": "{tmp}/xdg", "HOME": "{tmp}/home"}, "xdg/miosa"),
        ({"XDG_CACHE_HOME": "relative/ignored", "HOME": "{tmp}/home"}, "home/.cache/miosa"),
        ({"HOME": "{tmp}/home"}, "home/.cache/miosa"),
    ],
    ids=["xdg", "relative-xdg", "home"],
)
def test_the_fallback_directory_without_miosa_cache_dir(balancer, token, tmp_path, env, where):
    given = {name: value.format(tmp=tmp_path) for name, value in env.items()}
    result = subprocess.run(
        [*STDLIB.python, str(MIOSA), "run", "--", "true"],
        env={**client_environment(balancer.url, token), "MIOSA_CACHE_DIR": "", **given},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    [fallback] = (tmp_path / where).iterdir()
    assert mode(fallback) == 0o600


def test_watch_boots_from_the_fallback_and_picks_up_the_next_release_when_the_server_returns(
    balancer, token, cache, staging, actor
):
    assert (
        client(STDLIB, "run", "--", "true", url=balancer.url, token=token, cache=cache).returncode
        == 0
    )
    balancer.down()
    log = cache.parent / "starts.log"
    child = (
        "import os, sys, time\n"
        "open(sys.argv[1], 'a').write(os.environ['MIOSA_RELEASE'] + '\\n')\n"
        "time.sleep(120)\n"
    )
    with open(cache.parent / "stderr", "w") as stderr:
        process = subprocess.Popen(
            [
                *STDLIB.python,
                str(MIOSA),
                "run",
                "--boot-timeout",
                "1",
                "--watch",
                "0.2",
                "--",
                sys.executable,
                "-c",
                child,
                str(log),
            ],
            env=client_environment(balancer.url, token, MIOSA_CACHE_DIR=str(cache)),
            stderr=stderr,
        )
    try:
        wait_for(
            lambda: log.exists() and log.read_text() == "3\n", what="the start from the fallback"
        )
        # While the server is down the command keeps running (a watch poll has failed); then a
        # release, and the server returns.
        wait_for(
            lambda: "CMD keeps running" in (cache.parent / "stderr").read_text(),
            what="a failed watch poll",
        )
        services.set_variable(
            environment=staging, key="API_URL", value="v4", is_secret=False, actor=actor
        )
        balancer.up()
        wait_for(lambda: log.read_text() == "3\n4\n", what="the restart with release 4")
        process.terminate()
        assert process.wait(timeout=20) == 128 + 15
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    said = (cache.parent / "stderr").read_text()
    assert "booting from the fallback" in said
    assert "CMD keeps running, next try in 0.2 s" in said
    assert "release 4 is live: restarting" in said
