"""The document's request bodies and what the API accepts agree (in the spirit of Zulip's
test_openapi_arguments and schemathesis' positive/negative data checks, without either).

Three views of one body must agree: the declaration the view parses with (inputs.Body, read by
its attributes, not by the schema it generates), the document's requestBody, and the running
endpoint. A body built from the document alone is accepted (never a 400), and a body the
document refuses (each property given a value its schema refuses, a required property left out,
a property it does not list) is refused with 400.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from environments import rules
from environments.api.inputs import Body, Field, Items, OneOf
from environments.api.openapi import DOCUMENT
from tests.api.endpoints import OPERATIONS, VIEWS, Operation

ROOT = "urn:miosa-openapi-requests"
REGISTRY = Registry().with_resource(
    ROOT, Resource.from_contents(DOCUMENT, default_specification=DRAFT202012)
)
# The import takes a dotenv file or a free-form object of keys (imports.parse_object, with its
# own tests in test_env_import.py): no property list to compare.
FREE_FORM = {("POST", "/deployments/{deployment_id}/env/import")}
# A value for a string a pattern constrains: one the fixtures make exist.
SAMPLES = {rules.ENVIRONMENT_NAME_RE: "staging", rules.VARIABLE_KEY_RE: "DRIFT_KEY"}


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = DOCUMENT
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def accepts(schema: dict[str, Any], value: Any) -> bool:
    """Whether the document's schema admits the value (formats checked, date-time included)."""
    validator = Draft202012Validator(
        _rooted(schema), registry=REGISTRY, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    return validator.is_valid(value)


def _rooted(schema: Any) -> Any:
    """The schema with its local $refs pointing into the document's resource."""
    if isinstance(schema, dict):
        return {
            key: (f"{ROOT}{value}" if key == "$ref" else _rooted(value))
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_rooted(item) for item in schema]
    return schema


def json_bodies(operation: Operation) -> list[dict[str, Any]]:
    """The object schemas the document allows as the operation's JSON body."""
    schema = resolve(operation.spec["requestBody"]["content"]["application/json"]["schema"])
    return [resolve(option) for option in schema.get("oneOf", [schema])]


def declared(operation: Operation) -> list[Body]:
    found = VIEWS[operation.template].api_bodies.get(operation.method)
    if found is None:
        return []
    return list(found.bodies) if isinstance(found, OneOf) else [found]


BODY_OPERATIONS = [
    operation
    for operation in OPERATIONS
    if "application/json" in operation.spec.get("requestBody", {}).get("content", {})
    and (operation.method, operation.template) not in FREE_FORM
]


def test_every_json_body_of_the_document_has_a_declaration_and_no_other_does():
    documented = {(o.method, o.template) for o in BODY_OPERATIONS}
    parsed = {
        (method, template)
        for template, view in VIEWS.items()
        for method in getattr(view, "api_bodies", {})
    }
    assert documented == parsed
    assert len(documented) >= 12


# The document says what the declaration parses -------------------------------------------


def _types(schema: dict[str, Any]) -> set[str]:
    kind = schema.get("type", [])
    return {kind} if isinstance(kind, str) else set(kind)


def _field_types(field: Field) -> set[str]:
    return set(field.kind) | ({"null"} if field.nullable else set())


def assert_agree(schema: dict[str, Any], body: Body) -> None:
    where = body.name
    assert schema.get("type") == "object", where
    assert schema.get("additionalProperties") is False, f"{where} admits unknown properties"
    assert set(schema["properties"]) == set(body.fields), where
    required = {name for name, field in body.fields.items() if field.required}
    assert set(schema.get("required", [])) == required, where
    for name, field in body.fields.items():
        where = f"{body.name}.{name}"
        documented = resolve(schema["properties"][name])
        if field.enum is not None:
            allowed = [value for value in documented["enum"] if value is not None]
            assert allowed == list(field.enum), where
            assert (None in documented["enum"]) == field.nullable, where
        else:
            assert _types(documented) == _field_types(field), where
        if field.default is not None:
            assert documented.get("default") == field.default, where
        if isinstance(field, Items):
            assert_agree(resolve(documented["items"]), field.body)


@pytest.mark.parametrize("operation", BODY_OPERATIONS, ids=str)
def test_the_documented_body_is_the_declared_one(operation):
    bodies = declared(operation)
    schemas = json_bodies(operation)
    assert len(schemas) == len(bodies), operation
    for schema, body in zip(schemas, bodies, strict=True):
        assert_agree(schema, body)


# Bodies built from the document alone -------------------------------------------------------


def sample(schema: dict[str, Any]) -> Any:
    """A value the schema admits, preferring its example and values the fixtures make exist."""
    schema = resolve(schema)
    if schema.get("examples"):
        return schema["examples"][0]
    if "enum" in schema:
        return next(value for value in schema["enum"] if value is not None)
    if schema.get("default") not in (None, ""):
        return schema["default"]
    kind = next(iter(sorted(_types(schema) - {"null"})))
    if kind == "integer":
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    if kind == "array":
        return [sample(schema["items"]) for _ in range(max(1, schema.get("minItems", 0)))]
    if kind == "object":
        return full_body(schema)
    if schema.get("format") == "date-time":
        return "2099-01-01T00:00:00Z"
    for pattern, value in SAMPLES.items():
        if pattern in schema.get("pattern", ""):
            return value
    return "x" * max(1, schema.get("minLength", 0))


def full_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {name: sample(prop) for name, prop in schema["properties"].items()}


def minimal_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {name: sample(schema["properties"][name]) for name in schema.get("required", [])}


def candidates(schema: dict[str, Any]) -> list[Any]:
    """Values of every JSON type and the edges of the schema's limits: the test keeps those
    the document refuses."""
    schema = resolve(schema)
    values: list[Any] = [None, True, 0, -1, 7, 7.5, "", "Not Valid!", "a\x00b", [], {}, [7]]
    values += ["MIOSA_X", "1BAD", "2099-01-01T00:00:00", "sideways", ["Not Valid!"], [{}]]
    if "maximum" in schema:
        values.append(schema["maximum"] + 1)
    if "maxLength" in schema:
        values.append("x" * (schema["maxLength"] + 1))
    if "maxItems" in schema:
        values.append([f"K{i}" for i in range(schema["maxItems"] + 1)])
    return values


def invalid_bodies(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    full = full_body(schema)
    bodies = [("an unknown property", {**full, "unexpected": 1})]
    for name in schema.get("required", []):
        bodies.append((f"{name} left out", {k: v for k, v in full.items() if k != name}))
    for name, prop in schema["properties"].items():
        for value in candidates(prop):
            body = {**full, name: value}
            if not accepts(schema, body):
                bodies.append((f"{name}={value!r:.40}", body))
    return bodies


def _url(operation: Operation, deployment) -> str:
    return operation.path(deployment_id=deployment.pk) + operation.query()


@pytest.fixture
def owner_token(owner, token_for):
    return token_for(owner)


@pytest.mark.parametrize("operation", BODY_OPERATIONS, ids=str)
def test_a_body_the_document_admits_is_accepted(api, deployment, owner_token, operation):
    for schema in json_bodies(operation):
        for body in (minimal_body(schema), full_body(schema)):
            assert accepts(schema, body), (operation, body)
            response = api.request(
                operation.method, _url(operation, deployment), json=body, token=owner_token
            )
            assert response.status_code != 400 and response.status_code < 500, (
                f"{operation} refused a body its document admits: {body} -> "
                f"{response.status_code} {response.content[:300]!r}"
            )


@pytest.mark.parametrize("operation", BODY_OPERATIONS, ids=str)
def test_a_body_the_document_refuses_is_a_400(api, deployment, owner_token, operation):
    accepted = []
    for schema in json_bodies(operation):
        bodies = invalid_bodies(schema)
        assert len(bodies) >= 3
        for what, body in bodies:
            if any(accepts(other, body) for other in json_bodies(operation)):
                continue  # another shape of a oneOf admits it
            response = api.request(
                operation.method,
                _url(operation, deployment),
                json=copy.deepcopy(body),
                token=owner_token,
            )
            if response.status_code != 400:
                accepted.append(f"{what}: {response.status_code}")
    assert accepted == [], f"{operation} did not refuse what its document refuses"
