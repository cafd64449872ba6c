"""The Redocly-recommended lint (tests/api/openapi_lint.py) finds what it should: each rule is
shown a document with one planted problem."""

from __future__ import annotations

import copy

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator

from tests.api.openapi_lint import lint


def clean() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "T",
            "version": "1",
            "license": {"name": "MIT", "identifier": "MIT"},
            "contact": {"email": "api@localhost"},
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"token": []}],
        "tags": [{"name": "things", "description": "Things."}],
        "paths": {
            "/things/{thing_id}": {
                "parameters": [
                    {"name": "thing_id", "in": "path", "required": True, "schema": _ref("Id")}
                ],
                "get": {
                    "operationId": "getThing",
                    "summary": "A thing.",
                    "parameters": [
                        {
                            "name": "size",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1},
                            "example": 3,
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The thing.",
                            "content": {
                                "application/json": {
                                    "schema": _ref("Thing"),
                                    "examples": {"one": {"value": {"id": 1}}},
                                }
                            },
                        },
                        "404": {"$ref": "#/components/responses/NotFound"},
                    },
                },
            },
            "/things": {
                "get": {
                    "operationId": "listThings",
                    "summary": "The things.",
                    "security": [],
                    "responses": {"200": {"description": "ok"}, "400": {"description": "bad"}},
                }
            },
        },
        "components": {
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Id": {"type": "integer", "minimum": 1},
                "Thing": {
                    "type": "object",
                    "required": ["id"],
                    "properties": {"id": _ref("Id"), "kind": {"type": "string", "enum": ["a"]}},
                    "examples": [{"id": 2, "kind": "a"}],
                },
            },
            "responses": {"NotFound": {"description": "Not found."}},
        },
    }


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def test_a_clean_document_has_no_problem():
    OpenAPIV31SpecValidator(clean()).validate()
    assert [str(p) for p in lint(clean())] == []


def _get(doc: dict) -> dict:
    return doc["paths"]["/things/{thing_id}"]["get"]


def _thing(doc: dict) -> dict:
    return doc["components"]["schemas"]["Thing"]


MUTATIONS = {
    "operation-summary": lambda d: _get(d).pop("summary"),
    "operation-operationId": lambda d: _get(d).pop("operationId"),
    "operation-operationId-unique": lambda d: _get(d).update(operationId="listThings"),
    "operation-operationId-url-safe": lambda d: _get(d).update(operationId="get thing"),
    "operation-2xx-response": lambda d: _get(d)["responses"].pop("200"),
    "operation-4xx-response": lambda d: _get(d)["responses"].pop("404"),
    "no-path-trailing-slash": lambda d: d["paths"].update({"/things/": d["paths"].pop("/things")}),
    "path-not-include-query": lambda d: d["paths"].update({"/x?y=1": d["paths"].pop("/things")}),
    "path-declaration-must-exist": lambda d: d["paths"].update({"/x/{}": {}}),
    "path-parameters-defined": lambda d: d["paths"]["/things/{thing_id}"].pop("parameters"),
    "no-identical-paths": lambda d: d["paths"].update({"/things/{id}": {}}),
    "no-ambiguous-paths": lambda d: d["paths"].update({"/{kind}/1": {}}),
    "operation-parameters-unique": lambda d: _get(d)["parameters"].append(
        copy.deepcopy(_get(d)["parameters"][0])
    ),
    "security-defined": lambda d: d.update(security=[{"cookie": []}]),
    "no-unresolved-refs": lambda d: _thing(d)["properties"].update(x=_ref("Nope")),
    "no-unused-components": lambda d: d["components"]["schemas"].update(Unused={}),
    "spec-components-invalid-map-name": lambda d: d["components"]["schemas"].update(
        {"Bad name": {}, "Uses": _ref("Bad name")}
    ),
    "no-enum-type-mismatch": lambda d: _thing(d)["properties"]["kind"].update(enum=["a", 1]),
    "no-schema-type-mismatch": lambda d: _thing(d).update(items={}),
    "no-mixed-number-range-constraints": lambda d: d["components"]["schemas"]["Id"].update(
        exclusiveMinimum=0
    ),
    "no-required-schema-properties-undefined": lambda d: _thing(d)["required"].append("name"),
    "no-invalid-schema-examples": lambda d: _thing(d).update(examples=[{"id": "one"}]),
    "no-invalid-media-type-examples": lambda d: _get(d)["responses"]["200"]["content"][
        "application/json"
    ].update(examples={"bad": {"value": {"id": 0}}}),
    "no-example-value-and-externalValue": lambda d: _get(d)["responses"]["200"]["content"][
        "application/json"
    ]["examples"]["one"].update(externalValue="https://x/one.json"),
    "no-invalid-parameter-examples": lambda d: _get(d)["parameters"][0].update(example="big"),
    "info-license": lambda d: d["info"].pop("license"),
    "info-license-strict": lambda d: d["info"]["license"].pop("identifier"),
    "info-contact": lambda d: d["info"].pop("contact"),
    "no-empty-servers": lambda d: d.update(servers=[]),
    "no-server-trailing-slash": lambda d: d.update(servers=[{"url": "/api/v1/"}]),
    "no-server-example.com": lambda d: d.update(servers=[{"url": "https://example.com"}]),
    "no-undefined-server-variable": lambda d: d.update(servers=[{"url": "/{version}"}]),
    "no-server-variables-empty-enum": lambda d: d.update(
        servers=[{"url": "/{v}", "variables": {"v": {"default": "1", "enum": []}}}]
    ),
    "tag-description": lambda d: d["tags"][0].pop("description"),
    "no-duplicated-tag-names": lambda d: d["tags"].append(dict(d["tags"][0])),
}


@pytest.mark.parametrize("rule", sorted(MUTATIONS))
def test_each_rule_finds_its_problem(rule):
    document = clean()
    MUTATIONS[rule](document)
    assert rule in {problem.rule for problem in lint(document)}
