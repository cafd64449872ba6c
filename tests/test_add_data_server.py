"""manage.py add_data_server KIND NAME --url-file FILE [--deployments a,b], and
check_data_servers: the URL never on a command line, only the result printed."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from environments import selectors, services
from environments.actors import Actor
from environments.models import AuditEvent, DataServer
from tests.dataservers.servers import CANARY

pytest_plugins = ["tests.data_services_support"]


def add(*args: str, stdin: str | None = None) -> str:
    out = io.StringIO()
    kwargs = {"stdin": io.StringIO(stdin)} if stdin is not None else {}
    call_command("add_data_server", *args, stdout=out, **kwargs)
    return out.getvalue()


def test_a_server_is_added_from_a_file_for_every_deployment(db, tmp_path, pg_admin, deployment):
    url_file = tmp_path / "url"
    url_file.write_text(pg_admin + "\n")
    output = add("postgres", "main-pg", "--url-file", str(url_file))
    server = DataServer.objects.get()
    assert output.strip() == f"main-pg postgres {server.version}"
    assert CANARY not in output
    assert server.for_all_deployments
    assert server.admin_url() == pg_admin
    assert list(selectors.available_servers(deployment, "postgres")) == [server]
    event = AuditEvent.objects.get(action="data_server.add")
    assert event.target == "main-pg" and event.detail["deployments"] == "all"
    assert CANARY not in str(event.detail)


def test_deployments_limit_who_may_use_it(db, redis_admin, deployment, actor):
    other = services.create_deployment(name="other", actor=actor)
    add("redis", "cache", "--url-file", "-", "--deployments", "other", stdin=redis_admin)
    assert list(selectors.available_servers(other, "redis"))
    assert not list(selectors.available_servers(deployment, "redis"))
    with pytest.raises(CommandError, match="No deployment named nope"):
        add("redis", "cache2", "--url-file", "-", "--deployments", "nope", stdin=redis_admin)


def test_refusals_name_the_problem_never_the_url(db, tmp_path, pg_admin):
    url_file = tmp_path / "url"
    url_file.write_text(pg_admin.replace(":5432/", ":1/"))
    with pytest.raises(CommandError) as excinfo:
        add("postgres", "down", "--url-file", str(url_file))
    assert "connect failed: OperationalError" in str(excinfo.value)
    assert CANARY not in str(excinfo.value)
    with pytest.raises(CommandError, match="Cannot read"):
        add("postgres", "x", "--url-file", str(tmp_path / "missing"))
    url_file.write_text(f"{pg_admin}\n{pg_admin}\n")
    with pytest.raises(CommandError, match="one URL"):
        add("postgres", "x", "--url-file", str(url_file))
    url_file.write_text(pg_admin)
    add("postgres", "pg", "--url-file", str(url_file))
    with pytest.raises(CommandError, match="exists"):
        add("postgres", "pg", "--url-file", str(url_file))
    assert DataServer.objects.count() == 1


def test_check_data_servers_prints_each_health(db, pg_admin, redis_admin):
    root = Actor.system("test")
    services.add_data_server(kind="postgres", name="pg", admin_url=pg_admin, actor=root)
    services.add_data_server(kind="redis", name="cache", admin_url=redis_admin, actor=root)
    out = io.StringIO()
    call_command("check_data_servers", stdout=out)
    lines = out.getvalue().splitlines()
    assert [line.split()[:2] for line in lines] == [["pg", "postgres"], ["cache", "redis"]]
    assert CANARY not in out.getvalue()
