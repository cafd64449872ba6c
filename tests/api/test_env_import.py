"""POST /api/v1/deployments/:id/env/import: a dotenv file or a JSON object, all or nothing."""

from __future__ import annotations

import io
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from dotenv import dotenv_values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from environments import rules, services
from environments.api import envfile
from environments.models import AuditEvent, ConfigEntry, Release, Variable
from tests.conftest import CANARY
from tests.runtime import runtime_env

AWKWARD = """\
# a comment
export API_URL=https://api.example.com   # trailing comment
SINGLE='it is $HOME, literally'
DOUBLE="line one\\nline two \\"quoted\\" back\\\\slash"
MULTI="first
second"
EMPTY=
INTERPOLATED=${API_URL}/v1
HASH="a # not a comment"
UNICODE=héllo ✓
"""


@pytest.fixture
def import_url(deployment) -> str:
    return f"/api/v1/deployments/{deployment.pk}/env/import"


@pytest.fixture
def post_import(api, import_url, role_token):
    """post_import(body, environment=..., role=..., **params) -> the response."""

    tokens: dict[str, str] = {}

    def post(body, *, environment="staging", role="developer", content_type=None, **params):
        if role not in tokens:
            tokens[role] = role_token(role)
        if isinstance(body, dict):
            body, content_type = json.dumps(body), content_type or "application/json"
        return api.post(
            import_url,
            body=body,
            content_type=content_type or "text/plain; charset=utf-8",
            token=tokens[role],
            params={"environment": environment, **params},
        )

    return post


def _error(response) -> dict:
    return response.json()["error"]


# What a file means -------------------------------------------------------------------------


def test_a_dotenv_file_means_what_python_dotenv_reads_without_interpolation(post_import, staging):
    response = post_import(AWKWARD)
    assert response.status_code == 200
    expected = dotenv_values(stream=io.StringIO(AWKWARD), interpolate=False)
    assert runtime_env(staging) == runtime_env(staging) | expected
    assert expected["INTERPOLATED"] == "${API_URL}/v1"
    assert expected["MULTI"] == "first\nsecond" and expected["EMPTY"] == ""
    body = response.json()
    assert [row["key"] for row in body["variables"]] == list(expected)
    assert body["pending"] is False and body["live_release"] is None
    for row in body["variables"]:
        assert "value" not in row and row["source"] == "env" and row["is_secret"] is False


def test_an_import_is_one_revision(post_import, staging):
    before = staging.config_revision
    post_import("A=1\nB=2\nC=3\n")
    staging.refresh_from_db()
    assert staging.config_revision == before + 1
    assert set(
        ConfigEntry.objects.filter(environment=staging, set_revision=before + 1).values_list(
            "key", flat=True
        )
    ) == {"A", "B", "C"}


def test_crlf_line_endings_and_a_byte_order_mark_are_read(post_import, staging):
    response = post_import("\ufeffA=1\r\nB='two'\r\n")
    assert response.status_code == 200
    assert runtime_env(staging)["A"] == "1"
    assert runtime_env(staging)["B"] == "two"


def test_a_json_object_of_strings_is_imported(post_import, staging):
    response = post_import({"A": "1", "B": "line\nbreak"})
    assert response.status_code == 200
    assert [row["key"] for row in response.json()["variables"]] == ["A", "B"]
    assert runtime_env(staging)["B"] == "line\nbreak"


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    env=st.dictionaries(
        # Keys a write may set: not MIOSA_*, not one a process needs from its machine (PATH, LD_*).
        st.from_regex(r"\A[A-Z][A-Z0-9_]{0,10}\Z").filter(
            lambda k: not k.startswith("MIOSA_") and not rules.is_process_key(k)
        ),
        st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=40),
        min_size=1,
        max_size=6,
    )
)
def test_our_own_dotenv_output_imports_back_exactly(post_import, staging, env):
    assert post_import(envfile.render(env)).status_code == 200
    served = runtime_env(staging)
    assert {key: served[key] for key in env} == env


# Secrets ------------------------------------------------------------------------------------


def test_secret_keys_mark_keys_as_secrets_and_they_are_answered_masked(post_import, staging):
    response = post_import(f"TOKEN={CANARY}\nPLAIN=visible\n", secret_keys="TOKEN")
    assert response.status_code == 200
    rows = {row["key"]: row for row in response.json()["variables"]}
    assert rows["TOKEN"]["is_secret"] is True and rows["TOKEN"]["preview"] == "••••"
    assert rows["PLAIN"]["is_secret"] is False
    assert CANARY.encode() not in response.content
    assert Variable.objects.get(environment=staging, key="TOKEN").is_secret


def test_a_secret_left_out_of_secret_keys_stays_a_secret(post_import, staging, actor):
    services.set_variable(environment=staging, key="TOKEN", value="a", is_secret=True, actor=actor)
    response = post_import("TOKEN=b\n")
    assert response.json()["variables"][0]["is_secret"] is True
    assert Variable.objects.get(environment=staging, key="TOKEN").is_secret


def test_a_plain_key_in_secret_keys_becomes_a_secret(post_import, staging, actor):
    services.set_variable(environment=staging, key="A", value="1", is_secret=None, actor=actor)
    post_import("A=1\nB=2\n", secret_keys="A , B")
    assert Variable.objects.get(environment=staging, key="A").is_secret
    assert Variable.objects.get(environment=staging, key="B").is_secret


def test_secret_keys_may_be_repeated(post_import, staging):
    post_import({"A": "1", "B": "2"}, secret_keys=["A", "B"])
    assert Variable.objects.filter(environment=staging, is_secret=True).count() == 2


@pytest.mark.parametrize("secret_keys", ["C", "1BAD"])
def test_a_secret_key_not_in_the_import_is_400_and_nothing_is_written(
    post_import, staging, secret_keys
):
    response = post_import("A=1\nB=2\n", secret_keys=secret_keys)
    assert response.status_code == 400
    assert _error(response)["field"] == "secret_keys"
    assert not Variable.objects.filter(environment=staging).exists()


# Dry run ------------------------------------------------------------------------------------


def test_a_dry_run_answers_the_diff_by_name_and_writes_nothing(post_import, staging, actor):
    services.set_variables(
        environment=staging,
        items=[
            services.VariableInput("SAME", "one"),
            services.VariableInput("OTHER", "old"),
            services.VariableInput("SECRET", CANARY, True),
            services.VariableInput("KEPT", "not in the file"),
        ],
        actor=actor,
    )
    staging.refresh_from_db()
    revision, variables = staging.config_revision, list(Variable.objects.values())
    response = post_import(
        f"SAME=one\nOTHER=new\nSECRET={CANARY}\nNEW=x\nPLAIN=p\n",
        dry_run="true",
        secret_keys="NEW",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["dry_run"] is True and body["environment"] == "staging"
    assert body["added"] == ["NEW", "PLAIN"]
    assert body["changed"] == ["OTHER"]
    assert body["unchanged"] == ["SAME"]
    assert body["replaced"] == ["SECRET"]  # a secret is never said to be the same
    assert body["secret_keys"] == ["SECRET", "NEW"]
    assert CANARY.encode() not in response.content
    staging.refresh_from_db()
    assert staging.config_revision == revision
    assert list(Variable.objects.values()) == variables
    assert not AuditEvent.objects.filter(action="variable.import").exists()
    event = AuditEvent.objects.get(action="variable.import_preview")
    assert event.detail["dry_run"] is True and event.detail["count"] == 5
    assert CANARY not in json.dumps(event.detail)


def test_a_changed_secret_is_replaced_in_the_dry_run(post_import, staging, actor):
    services.set_variable(environment=staging, key="S", value="a", is_secret=True, actor=actor)
    body = post_import("S=b", dry_run="true").json()
    assert (body["replaced"], body["changed"], body["unchanged"]) == (["S"], [], [])


def test_a_dry_run_does_not_tell_whether_a_guess_of_a_secret_is_right(post_import, staging, actor):
    """Issue 18: a developer of staging could send STRIPE_SECRET_KEY=<guess> and read changed
    or unchanged, 500 guesses a request, writing nothing. Right and wrong guesses now get the
    same answer and the same audit detail."""
    services.set_variable(
        environment=staging, key="STRIPE_SECRET_KEY", value=CANARY, is_secret=True, actor=actor
    )
    right = post_import(f"STRIPE_SECRET_KEY={CANARY}", dry_run="true")
    wrong = post_import("STRIPE_SECRET_KEY=sk_live_guess", dry_run="true")
    assert right.status_code == wrong.status_code == 200
    assert right.json() == wrong.json()
    assert right.json()["replaced"] == ["STRIPE_SECRET_KEY"]
    assert right.json()["unchanged"] == right.json()["changed"] == []
    details = [
        event.detail
        for event in AuditEvent.objects.filter(action="variable.import_preview").order_by("pk")
    ]
    assert len(details) == 2 and details[0] == details[1]
    assert CANARY.encode() not in right.content


def test_a_plain_variable_becoming_secret_is_changed_in_the_dry_run(post_import, staging, actor):
    services.set_variable(environment=staging, key="S", value="a", is_secret=None, actor=actor)
    assert post_import("S=a", dry_run="true", secret_keys="S").json()["changed"] == ["S"]


def test_a_dry_run_is_refused_as_the_import_would_be(post_import, staging, actor):
    services.create_binding(
        environment=staging, kind="postgres", name="db", url="postgres://a:b@h/db", actor=actor
    )
    response = post_import("A=1\nDATABASE_URL=x\n", dry_run="true")
    assert response.status_code == 409
    assert _error(response)["code"] == "binding_clash"
    assert _error(response)["field"] == "line 2"
    assert not AuditEvent.objects.filter(action__startswith="variable.import").exists()


def test_dry_run_is_true_or_false(post_import):
    response = post_import("A=1", dry_run="yes")
    assert response.status_code == 400 and _error(response)["field"] == "dry_run"


# Bad files ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "code"),
    [
        (f"A=1\n\n# note\n{CANARY} here is no key\nB=2\n", 4, "invalid_dotenv"),
        (f"A=1\nB='unterminated {CANARY}\n", 2, "invalid_dotenv"),
        ("A=1\nJUST_A_KEY\n", 2, "invalid_dotenv"),
        (f"A=1\nB={CANARY}\x00\n", 2, "invalid_dotenv"),
        (f"A=1\n1{CANARY}=x\n", 2, "invalid_key"),
        ("A=1\nexport MIOSA_VERSION=3\n", 2, "reserved_key"),
        ("A=1\nB=2\nA=3\n", 3, "duplicate_key"),
    ],
)
def test_a_bad_file_is_400_naming_the_line_never_quoting_it(post_import, staging, text, line, code):
    response = post_import(text)
    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == code and error["field"] == f"line {line}"
    assert f"line {line}" in error["message"].lower() or f"and {line}." in error["message"]
    assert CANARY not in error["message"]
    assert not Variable.objects.filter(environment=staging).exists()


def test_a_key_defined_twice_names_both_lines(post_import):
    assert "lines 1 and 3" in _error(post_import("A=1\nB=2\nA=3\n"))["message"]


def test_a_value_over_32_kib_is_413_naming_the_line(post_import, staging):
    response = post_import("A=1\nB=" + "x" * (32 * 1024 + 1) + "\n")
    assert response.status_code == 413
    assert _error(response)["code"] == "value_too_large"
    assert _error(response)["field"] == "line 2"
    assert not Variable.objects.filter(environment=staging).exists()


@pytest.mark.parametrize("text", ["\n", "# only a comment\n\n"])
def test_a_file_without_variables_is_400(post_import, text):
    response = post_import(text)
    assert response.status_code == 400 and _error(response)["code"] == "empty_import"


def test_text_that_is_not_utf8_is_400(post_import):
    response = post_import(b"A=\xff\xfe")
    assert response.status_code == 400 and _error(response)["code"] == "invalid_encoding"


def test_more_than_500_keys_is_413_and_nothing_is_written(post_import, staging):
    response = post_import("".join(f"K{n}=v\n" for n in range(501)))
    assert response.status_code == 413 and _error(response)["code"] == "too_many_variables"
    assert not Variable.objects.filter(environment=staging).exists()


def test_over_64_kib_in_total_is_413(post_import, staging):
    response = post_import("".join(f"K{n}={'x' * 30_000}\n" for n in range(3)))
    assert response.status_code == 413 and _error(response)["code"] == "environment_too_large"
    assert not Variable.objects.filter(environment=staging).exists()


def test_a_binding_key_is_409_and_nothing_is_written(post_import, staging, actor):
    services.create_binding(
        environment=staging, kind="postgres", name="db", url="postgres://a:b@h/db", actor=actor
    )
    response = post_import("A=1\nDATABASE_URL=x\n")
    assert response.status_code == 409 and _error(response)["field"] == "line 2"
    assert not Variable.objects.filter(environment=staging).exists()


# Bad JSON -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ('{"A": "1", "B": 2}', "invalid", "B"),
        ('{"A": "1", "A": "2"}', "duplicate_key", "A"),
        ('{"A": "1", "MIOSA_X": "2"}', "reserved_key", "MIOSA_X"),
        ('{"A": "1", "bad-key": "2"}', "invalid_key", "bad-key"),
        ("{}", "empty_import", "body"),
        ('["A"]', "invalid_body", None),
        ('{"A": ', "malformed_json", None),
        ('{"A": NaN}', "malformed_json", None),
    ],
)
def test_a_bad_json_object_is_400_and_nothing_is_written(post_import, staging, body, code, field):
    response = post_import(body, content_type="application/json")
    assert response.status_code == 400
    assert _error(response)["code"] == code and _error(response).get("field") == field
    assert not Variable.objects.filter(environment=staging).exists()


@pytest.mark.parametrize(
    "content_type",
    ["text/csv", "application/x-www-form-urlencoded", "text/plain; charset=latin-1"],
)
def test_another_media_type_is_415(post_import, content_type):
    response = post_import("A=1", content_type=content_type)
    assert response.status_code == 415
    assert _error(response)["code"] == "unsupported_media_type"


def test_a_body_over_the_limit_is_413(post_import, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = post_import("A=" + "x" * 200)
    assert response.status_code == 413 and _error(response)["code"] == "body_too_large"


# Who may import -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "environment", "status"),
    [
        ("viewer", "staging", 403),
        ("developer", "staging", 200),
        ("developer", "production", 403),
        ("admin", "production", 200),
        ("owner", "production", 200),
        ("outsider", "staging", 404),
    ],
)
def test_importing_needs_the_role_of_writing_the_environment(
    post_import, production, staging, role, environment, status
):
    response = post_import("A=1", role=role, environment=environment)
    assert response.status_code == status
    written = Variable.objects.filter(key="A").exists()
    assert written == (status == 200)


def test_a_role_too_low_is_refused_before_the_file_is_read(post_import):
    assert post_import("not a file", role="viewer").status_code == 403


def test_the_environment_is_required_and_must_exist(api, import_url, role_token):
    raw = role_token("developer")
    missing = api.post(import_url, body="A=1", content_type="text/plain", token=raw)
    assert missing.status_code == 400 and _error(missing)["field"] == "environment"
    unknown = api.post(
        import_url,
        body="A=1",
        content_type="text/plain",
        token=raw,
        params={"environment": "qa"},
    )
    assert unknown.status_code == 404


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_are_405(api, import_url, role_token, method):
    response = api.request(method, import_url, token=role_token("owner"))
    assert response.status_code == 405 and response["Allow"] == "POST"


def test_no_token_is_401(api, import_url, staging):
    response = api.post(
        import_url, body="A=1", content_type="text/plain", params={"environment": "staging"}
    )
    assert response.status_code == 401


# Audit, release, queries --------------------------------------------------------------------


def test_an_import_is_audited_with_key_names_never_values(post_import, staging):
    post_import(f"A=1\nTOKEN={CANARY}\n", secret_keys="TOKEN")
    event = AuditEvent.objects.get(action="variable.import")
    assert event.environment_name == "staging" and event.actor_label.startswith("developer")
    assert event.detail["keys"] == ["A", "TOKEN"] and event.detail["count"] == 2
    assert event.detail["secret_keys"] == ["TOKEN"] and event.detail["dry_run"] is False
    staging.refresh_from_db()
    assert event.detail["revision"] == staging.config_revision
    assert CANARY not in json.dumps(event.detail) and CANARY not in event.target


def test_an_import_into_a_staged_environment_is_pending(post_import, production, live):
    response = post_import("A=1", role="admin", environment="production")
    body = response.json()
    assert body["pending"] is True and body["live_release"] == 1
    assert Release.objects.filter(environment=production).count() == 1


def test_an_import_into_an_immediate_environment_goes_live(post_import, staging, live):
    body = post_import("A=1").json()
    assert body["pending"] is False and body["live_release"] == 2


def _queries(post_import, count: int, **params) -> int:
    text = "".join(f"K{n}=v{n}\n" for n in range(count))
    with CaptureQueriesContext(connection) as queries:
        assert post_import(text, **params).status_code == 200
    return len(queries)


def test_a_dry_run_costs_the_same_however_many_keys(post_import, staging, actor):
    services.set_variables(
        environment=staging,
        items=[services.VariableInput(f"K{n}", "old") for n in range(300)],
        actor=actor,
    )
    _queries(post_import, 1, dry_run="true")  # the token is made outside the counts
    assert _queries(post_import, 3, dry_run="true") == _queries(post_import, 300, dry_run="true")


def test_an_import_costs_what_the_batch_write_costs_plus_a_fixed_number(
    api, env_url, post_import, staging, role_token
):
    admin = role_token("admin")

    def batch(count: int) -> int:
        items = [{"key": f"B{n}", "value": "v"} for n in range(count)]
        with CaptureQueriesContext(connection) as queries:
            response = api.post(
                env_url,
                {"environment": "staging", "variables": items},
                token=admin,
            )
            assert response.status_code == 200
        return len(queries)

    # Tokens are made and first touched outside the counts.
    _queries(post_import, 1)
    batch(1)
    small = _queries(post_import, 3) - batch(3)
    large = _queries(post_import, 60) - batch(60)
    assert small == large
