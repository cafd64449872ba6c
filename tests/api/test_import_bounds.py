"""An import or a batch with more keys than an environment may hold is refused while it is read
(issue 18): the parser stops at the limit, so no query about variables runs and the answer does
not wait for 116,000 lines to be parsed and checked. The counts are asserted, never the time."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from environments import import_parser, rules
from environments.errors import TooLarge
from environments.models import AuditEvent, Variable

LIMIT = rules.MAX_KEYS_PER_ENVIRONMENT
# 116,000 distinct keys in under 1 MiB (the body limit): K0=, K1=, … K1c51f=.
HUGE_DOTENV = "".join(f"K{n:x}=\n" for n in range(116_000))
HUGE_OBJECT = {f"K{n:x}": "" for n in range(70_000)}
HUGE_BATCH = [{"key": f"K{n:x}", "value": ""} for n in range(31_000)]


def _touches_variables(queries: CaptureQueriesContext) -> list[str]:
    table = Variable._meta.db_table
    return [q["sql"] for q in queries.captured_queries if table in q["sql"]]


@pytest.fixture
def import_url(deployment) -> str:
    return f"/api/v1/deployments/{deployment.pk}/env/import"


@pytest.fixture
def developer(role_token) -> str:
    return role_token("developer")


@pytest.fixture
def post_import_small(api, import_url, developer):
    def post(text):
        return api.post(
            import_url,
            body=text,
            content_type="text/plain",
            token=developer,
            params={"environment": "staging"},
        )

    return post


def _post_import(api, import_url, token, body, content_type, **params):
    with CaptureQueriesContext(connection) as queries:
        response = api.post(
            import_url,
            body=body,
            content_type=content_type,
            token=token,
            params={"environment": "staging", **params},
        )
    return response, queries


def test_the_sizes_fit_under_the_body_limit(settings):
    assert len(HUGE_DOTENV.encode()) < settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert len(json.dumps(HUGE_OBJECT).encode()) < settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = json.dumps({"environment": "staging", "variables": HUGE_BATCH})
    assert len(body.encode()) < settings.DATA_UPLOAD_MAX_MEMORY_SIZE


@pytest.mark.parametrize("dry_run", ["true", "false"])
def test_a_dotenv_file_of_116000_lines_is_413_before_any_variable_query(
    api, import_url, developer, staging, dry_run
):
    # A refusal by the parser (line 1) is the baseline: authentication, the environment.
    _, baseline = _post_import(api, import_url, developer, "not a line\n", "text/plain")
    response, queries = _post_import(
        api, import_url, developer, HUGE_DOTENV, "text/plain; charset=utf-8", dry_run=dry_run
    )
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "too_many_variables" and str(LIMIT) in error["message"]
    assert _touches_variables(queries) == []
    assert len(queries) <= len(baseline)
    assert not Variable.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="variable.import").exists()


def test_a_file_of_a_million_bytes_of_comments_is_413_when_reading_stops(
    api, import_url, developer, staging
):
    text = "# a comment\n" * 80_000
    response, queries = _post_import(api, import_url, developer, text, "text/plain")
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "too_many_lines"
    assert error["field"] == f"line {rules.MAX_IMPORT_LINES + 1}"
    assert _touches_variables(queries) == []


def test_a_file_of_many_comments_under_the_line_limit_is_read(post_import_small):
    text = "# a comment\n" * (rules.MAX_IMPORT_LINES - 1) + "A=1\n"
    assert post_import_small(text).status_code == 200


def test_a_json_object_of_70000_keys_is_413_before_any_variable_query(
    api, import_url, developer, staging
):
    _, baseline = _post_import(api, import_url, developer, "[]", "application/json")
    response, queries = _post_import(
        api, import_url, developer, json.dumps(HUGE_OBJECT), "application/json", dry_run="true"
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_many_variables"
    assert _touches_variables(queries) == []
    assert len(queries) <= len(baseline)
    assert not AuditEvent.objects.filter(action__startswith="variable.import").exists()


def test_a_batch_of_31000_items_is_413_before_any_variable_query(api, env_url, role_token, staging):
    admin = role_token("admin")
    with CaptureQueriesContext(connection) as baseline:
        refused = api.post(env_url, {"environment": "staging", "variables": []}, token=admin)
    assert refused.status_code == 400
    with CaptureQueriesContext(connection) as queries:
        response = api.post(
            env_url, {"environment": "staging", "variables": HUGE_BATCH}, token=admin
        )
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "too_many_variables" and str(LIMIT) in error["message"]
    assert _touches_variables(queries) == []
    assert len(queries) <= len(baseline)
    assert not Variable.objects.exists()


def test_a_batch_of_exactly_the_limit_is_still_written(api, env_url, role_token, staging):
    items = [{"key": f"K{n}", "value": ""} for n in range(LIMIT)]
    response = api.post(
        env_url, {"environment": "staging", "variables": items}, token=role_token("admin")
    )
    assert response.status_code == 200
    assert Variable.objects.filter(environment=staging).count() == LIMIT


# The parser alone -----------------------------------------------------------------------------


def test_the_parser_stops_at_the_first_key_over_the_limit():
    text = "".join(f"K{n}=\n" for n in range(LIMIT)) + "OVER=\n" + "this is not dotenv\n"
    with pytest.raises(TooLarge) as excinfo:
        import_parser.parse_dotenv(text)
    assert excinfo.value.code == "too_many_variables"
    assert excinfo.value.field == f"line {LIMIT + 1}"


def test_the_parser_takes_exactly_the_limit():
    text = "".join(f"K{n}=\n" for n in range(LIMIT))
    assert len(import_parser.parse_dotenv(text)) == LIMIT
    assert len(import_parser.parse_object({f"K{n}": "" for n in range(LIMIT)})) == LIMIT


def test_an_object_over_the_limit_is_refused_before_its_keys_are_checked():
    members = {f"K{n}": "" for n in range(LIMIT)} | {"MIOSA_X": 1}
    with pytest.raises(TooLarge) as excinfo:
        import_parser.parse_object(members)
    assert excinfo.value.code == "too_many_variables"
