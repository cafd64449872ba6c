"""A property-based fuzz of every endpoint: random methods, ids, keys, query parameters,
headers and bodies (random JSON, near-valid writes, raw bytes). Whatever comes in, the answer
is never a 5xx, always matches the OpenAPI document (the `api` fixture checks), and never
carries the canary secret outside the runtime endpoint."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from urllib.parse import quote

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from environments import services
from environments.api.openapi import DOCUMENT
from environments.services import VariableInput
from tests.api.endpoints import TEMPLATES
from tests.conftest import CANARY

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "2000"))
# Each endpoint (its URL name) with the methods it answers, from the resolver and the document;
# "other" is any other path under /api/v1/.
METHODS = {
    name: [m.upper() for m in DOCUMENT["paths"][template] if m != "parameters"]
    for name, template in TEMPLATES.items()
} | {"other": ["GET"]}
ENDPOINTS = list(METHODS)

header_text = st.text(st.characters(max_codepoint=255, exclude_characters="\r\n\x00"), max_size=60)
names = st.sampled_from(["production", "staging", "preview/pr-42", "qa", "", "Prod", "a/b/c"])
keys = st.one_of(
    st.sampled_from(["API_URL", "SECRET", "DATABASE_URL", "MIOSA_VERSION", "x", "1BAD"]),
    st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,12}\Z"),
    st.text(max_size=20),
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=15,
)
variable_items = st.fixed_dictionaries(
    {"key": keys, "value": st.one_of(st.text(max_size=60), json_values)},
    optional={"is_secret": st.one_of(st.booleans(), json_values)},
)
# Import bodies: dotenv text (near-valid and broken) and JSON objects.
dotenv_lines = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", keys, st.text(max_size=30)),
    st.builds(lambda k, v: f"export {k}='{v}'", keys, st.text(max_size=30)),
    st.builds(lambda k, v: f'{k}="{v}"', keys, st.text(max_size=30)),
    st.sampled_from(["# comment", "", "JUST_A_KEY", "SECRET=" + CANARY, "A=\x00", "'open"]),
    st.text(max_size=30),
)
good_keys = st.sampled_from(["API_URL", "SECRET", "DATABASE_URL", "NEW", "OTHER"])
dotenv_texts = st.one_of(
    st.lists(st.builds(lambda k, v: f"{k}={v}", good_keys, st.sampled_from(["1", "x y", ""]))).map(
        "\n".join
    ),
    st.lists(dotenv_lines, max_size=6).map("\n".join),
)
import_objects = st.one_of(
    st.dictionaries(good_keys, st.text(max_size=30), max_size=4),
    st.dictionaries(keys, st.one_of(st.text(max_size=30), json_values), max_size=5),
)
write_bodies = st.one_of(
    st.fixed_dictionaries(
        {"environment": st.one_of(names, json_values)},
        optional={
            "key": keys,
            "value": st.one_of(st.text(max_size=60), json_values),
            "is_secret": st.one_of(st.booleans(), st.none()),
            "extra": json_values,
        },
    ),
    st.fixed_dictionaries(
        {
            "environment": names,
            "variables": st.one_of(st.lists(variable_items, max_size=4), json_values),
        }
    ),
)
# Release and revision numbers: plausible, out of range, huge, or not numbers at all.
numbers = st.one_of(
    st.integers(min_value=-2, max_value=12),
    st.sampled_from([2**31 - 1, 2**31, 2**63, 2**80]),
    st.integers(),
    json_values,
)
release_bodies = st.one_of(
    st.fixed_dictionaries(
        {"environment": st.one_of(names, json_values)},
        optional={
            "release": numbers,
            "config": st.one_of(st.sampled_from(["restore", "keep", "maybe"]), json_values),
            "revision": numbers,
            "expected_revision": numbers,
            "extra": json_values,
        },
    ),
    st.fixed_dictionaries(
        {"keys": st.one_of(st.lists(keys, max_size=4), json_values)},
        optional={"extra": json_values},
    ),
)
# The body an endpoint expects, with plausible and implausible values.
NEAR_VALID_BODIES = {
    "api_environment_variables": write_bodies,
    "api_variable_restore": st.fixed_dictionaries(
        {"environment": names, "revision": st.one_of(st.sampled_from([2, 3]), numbers)}
    ),
    "api_apply": st.fixed_dictionaries(
        {"environment": names}, optional={"expected_revision": numbers}
    ),
    "api_rollback": st.fixed_dictionaries(
        {"environment": names, "release": st.one_of(st.integers(1, 3), numbers)},
        optional={"config": st.sampled_from(["restore", "keep", "maybe"])},
    ),
    "api_required_keys": st.fixed_dictionaries({"keys": st.lists(keys, max_size=4)}),
}
# Near-valid bodies of the CI writes (SPEC §10).
hostnames = st.one_of(
    st.sampled_from(["a.shop.example", "staging.shop.example", "bücher.example", "localhost"]),
    st.text(max_size=30),
)
times = st.one_of(
    st.sampled_from(["2099-01-01T00:00:00Z", "2020-01-01T00:00:00Z", "2099-01-01T00:00:00"]),
    json_values,
)
NEAR_VALID_BODIES.update(
    {
        "api_versions": st.fixed_dictionaries(
            {}, optional={"label": st.text(max_size=210), "notes": st.text(max_size=60)}
        ),
        "api_environments": st.fixed_dictionaries(
            {"name": st.one_of(names, st.sampled_from(["preview/pr-7", "qa-2", "a..b"]))},
            optional={
                "copy_from": st.one_of(names, st.none()),
                "promotes_to": st.one_of(names, st.none()),
                "config_changes": st.sampled_from(["immediate", "staged", "later"]),
                "expires_at": times,
            },
        ),
        "api_deploy": st.fixed_dictionaries(
            {"environment": names, "version": st.one_of(st.integers(1, 3), numbers)}
        ),
        "api_promote": st.fixed_dictionaries(
            {"from": names},
            optional={"to": names, "expected_version": st.one_of(st.none(), numbers)},
        ),
        "api_bindings": st.fixed_dictionaries(
            {
                "environment": names,
                "kind": st.sampled_from(["postgres", "redis", "bucket", "mysql"]),
                "url": st.one_of(
                    st.sampled_from(["postgres://a:pw@h/db", "redis://:pw@h:6379/0"]),
                    st.text(max_size=30),
                ),
            },
            optional={"name": st.text(max_size=20), "variable_name": keys},
        ),
        "api_domains": st.fixed_dictionaries({"environment": names, "hostname": hostnames}),
        # Personal API tokens (SPEC §12).
        "api_token_list": st.fixed_dictionaries(
            {},
            optional={
                "name": st.one_of(st.text(max_size=110), json_values),
                "expires_in_days": st.one_of(
                    st.none(), st.integers(-2, 400), st.sampled_from([90, 365]), json_values
                ),
            },
        ),
    }
)
bodies = st.one_of(
    write_bodies.map(lambda b: json.dumps(b).encode()),
    release_bodies.map(lambda b: json.dumps(b).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=80),
    st.just(b""),
    dotenv_texts.map(str.encode),
)
params = st.dictionaries(
    st.sampled_from(
        ["environment", "reveal", "format", "before", "limit", "token", "q", "api_key", "x"]
    ),
    st.one_of(
        names,
        st.sampled_from(
            [
                "true",
                "false",
                "json",
                "dotenv",
                "1",
                "3",
                "100",
                "101",
                "0",
                "-1",
                "9" * 30,
                "mio_pat_x",
                "mio_rt_y",
            ]
        ),
        st.text(max_size=20),
    ),
    max_size=3,
)


@pytest.fixture
def world(deployment, production, staging, actor, role_token, runtime_token):
    """Releases in staging and production; production has the canary secret in its history
    (replaced since, so restoring it is possible) and a pending change."""
    services.create_environment(deployment=deployment, name="preview/pr-42", actor=actor)
    services.set_variables(
        environment=production,
        items=[
            VariableInput("API_URL", "https://api.example.com"),
            VariableInput("SECRET", CANARY, True),
        ],
        actor=actor,
    )
    version = services.create_version(deployment=deployment, actor=actor)
    services.deploy_version(environment=staging, version=version, actor=actor)
    services.deploy_version(environment=production, version=version, actor=actor)
    services.set_variable(
        environment=production, key="SECRET", value="replaced", is_secret=None, actor=actor
    )
    services.set_variable(
        environment=staging, key="API_URL", value="s", is_secret=None, actor=actor
    )
    services.create_binding(
        environment=staging, kind="postgres", name="db", url="postgres://a:pw@h/db", actor=actor
    )
    # For the CI endpoints: a second version, a domain, a binding with the canary password.
    services.create_version(deployment=deployment, actor=actor)
    services.add_domain(environment=staging, hostname="staging.shop.example", actor=actor)
    services.create_binding(
        environment=production,
        kind="redis",
        name="cache",
        url=f"redis://:{CANARY}@cache:6379/0",
        actor=actor,
    )
    tokens = {
        role: role_token(role) for role in ("viewer", "developer", "admin", "owner", "outsider")
    }
    tokens["runtime"] = runtime_token(production)
    return {"deployment": deployment, "tokens": tokens}


# Each endpoint is fuzzed on its own, with its share of the examples: drawn from one list of
# sixty endpoints, Hypothesis's choices are far from uniform, and a run once gave api_apply no
# example at all and api_promote five.
PER_ENDPOINT = max(EXAMPLES // len(ENDPOINTS), 1)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_no_input_makes_the_api_fail_or_lie(api, world, endpoint):
    answers: Counter[int] = Counter()

    @settings(
        max_examples=PER_ENDPOINT,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(
        data=st.data(),
        method=st.sampled_from(
            ["GET", "GET", "POST", "POST", "DELETE", "PUT", "PATCH", "OPTIONS", "HEAD"]
        ),
        query=params,
        body=bodies,
        content_type=st.one_of(
            st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain"]),
            header_text,
        ),
        auth=st.one_of(
            st.sampled_from(["viewer", "developer", "admin", "owner", "outsider", "runtime", None]),
            header_text,
        ),
        if_none_match=st.one_of(st.none(), header_text, st.just("*")),
        content_length=st.one_of(st.none(), st.sampled_from(["-1", "abc", "99999999", "0"])),
    )
    def fuzz(data, method, query, body, content_type, auth, if_none_match, content_length):
        tokens = world["tokens"]
        near_valid = data.draw(st.booleans(), label="near-valid")
        if near_valid:
            # Half the examples are near-valid, to get past authentication and parsing into the
            # services: a method the endpoint answers, a member's token, JSON, an environment.
            method = data.draw(st.sampled_from(METHODS[endpoint]))
            roles = ["owner", "owner", "admin", "developer", "viewer", "outsider"]
            auth = "runtime" if endpoint == "api_runtime_env" else data.draw(st.sampled_from(roles))
            content_type, content_length = "application/json", None
            body = json.dumps(data.draw(NEAR_VALID_BODIES.get(endpoint, release_bodies))).encode()
            query = {"environment": data.draw(names)} | data.draw(
                st.dictionaries(
                    st.sampled_from(["before", "limit", "reveal"]),
                    st.sampled_from(["1", "2", "50", "100", "101", "0", "true", "x"]),
                    max_size=2,
                )
            )
        if near_valid and endpoint == "api_env_import":
            # A dotenv file or a JSON object, a dry run or not, secret keys or not.
            if data.draw(st.booleans(), label="dotenv"):
                content_type = "text/plain; charset=utf-8"
                body = data.draw(dotenv_texts).encode()
            else:
                body = json.dumps(data.draw(import_objects)).encode()
            query |= data.draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "dry_run": st.sampled_from(["true", "false", "true", "x"]),
                        "secret_keys": st.one_of(good_keys, keys, st.just("SECRET,API_URL")),
                    },
                )
            )
        deployment_id = data.draw(
            st.one_of(st.just(world["deployment"].pk), st.integers(min_value=0, max_value=2**80))
        )
        key = quote(data.draw(keys), safe="")
        if near_valid:
            deployment_id = world["deployment"].pk
            key = data.draw(st.sampled_from(["API_URL", "SECRET", "DATABASE_URL", "NEVER"]))
        arguments = {
            "deployment_id": str(deployment_id),
            "key": key,
            "name": data.draw(st.one_of(names, st.just(key))),
            "binding_id": str(data.draw(st.one_of(st.integers(0, 4), st.just(key)))),
            "hostname": quote(data.draw(hostnames), safe=""),
            "token_id": str(data.draw(st.one_of(st.integers(0, 12), st.just(key)))),
            "service_id": str(data.draw(st.one_of(st.integers(0, 4), st.just(key)))),
            "rotation_id": str(data.draw(st.one_of(st.integers(0, 4), st.just(key)))),
            "group": data.draw(st.sampled_from(["common", "nope", key])),
            "webhook_id": str(data.draw(st.one_of(st.integers(0, 4), st.just(key)))),
            "delivery_id": str(data.draw(st.one_of(st.integers(0, 4), st.just(key)))),
            "cid": str(data.draw(st.one_of(st.integers(0, 4), st.just(key)))),
            "policy_id": str(data.draw(st.one_of(st.integers(0, 4), st.just(key)))),
        }
        if endpoint == "other":
            path = f"/api/v1/{key}"
        else:
            path = "/api/v1" + re.sub(
                r"\{(\w+)\}", lambda m: arguments[m.group(1)], TEMPLATES[endpoint]
            )
        headers = {}
        if auth in tokens:
            headers["Authorization"] = f"Bearer {tokens[auth]}"
        elif auth is not None:
            headers["Authorization"] = auth
        if if_none_match is not None:
            headers["If-None-Match"] = if_none_match
        extra = {"CONTENT_LENGTH": content_length} if content_length is not None else {}
        # A savepoint, not an atomic block: the services are durable and refuse to run inside one.
        savepoint = transaction.savepoint_create()
        try:
            response = api.request(
                method,
                path,
                body=body,
                content_type=content_type,
                params=query,
                headers=headers,
                **extra,
            )
        finally:
            transaction.savepoint_rollback(savepoint)
        answers[response.status_code] += 1
        assert response.status_code < 500, response.content[:300]
        if endpoint != "api_runtime_env":
            assert CANARY.encode() not in response.content

    fuzz()
    # The endpoint was reached, and past authentication and parsing (not only 400s and 401s).
    assert sum(answers.values()) == PER_ENDPOINT
    if PER_ENDPOINT >= 16:
        assert set(answers) - {400, 401}, (endpoint, answers)
