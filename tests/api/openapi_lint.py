"""Redocly's "recommended" lint ruleset for OpenAPI 3.1, in Python, for the rules that apply to a
document without external references.

Rule names and severities are Redocly's (`redocly lint --extends recommended`), so a problem
reads the same as it would there. The structure itself ("struct") is checked by
openapi-spec-validator in test_openapi.py. `info-contact` is off in Redocly's recommended set;
it is here as a warning because we want to know.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
COMPONENT_NAME = re.compile(r"^[a-zA-Z0-9._-]+$")
URL_SAFE = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]*$")
TEMPLATE = re.compile(r"{([^}]*)}")
TYPE_OF = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "array": list,
    "object": dict,
    "null": type(None),
}
# Keywords whose value is a schema, a list of schemas, or a map of schemas (JSON Schema 2020-12).
SCHEMA_KEYWORDS = (
    "items",
    "additionalProperties",
    "not",
    "if",
    "then",
    "else",
    "propertyNames",
    "contains",
    "unevaluatedItems",
    "unevaluatedProperties",
    "contentSchema",
)
SCHEMA_LIST_KEYWORDS = ("allOf", "anyOf", "oneOf", "prefixItems")
SCHEMA_MAP_KEYWORDS = ("properties", "patternProperties", "dependentSchemas", "$defs")


@dataclass(frozen=True)
class Problem:
    rule: str
    severity: str  # "error" or "warn"
    pointer: str
    message: str

    def __str__(self) -> str:
        return f"[{self.severity}] {self.rule} at {self.pointer}: {self.message}"


def _pointer(*parts: object) -> str:
    return "#/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _resolve(document: dict, node: Any) -> Any:
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


class Linter:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.problems: list[Problem] = []

    def report(self, rule: str, severity: str, pointer: str, message: str) -> None:
        self.problems.append(Problem(rule, severity, pointer, message))

    # Walking ------------------------------------------------------------------------------

    def operations(self) -> Iterator[tuple[str, str, dict, dict]]:
        for path, item in (self.document.get("paths") or {}).items():
            for method in METHODS:
                if isinstance(item.get(method), dict):
                    yield path, method, item, item[method]

    def parameters(self, item: dict, operation: dict | None = None) -> list[dict]:
        own = (operation or {}).get("parameters") or []
        return [_resolve(self.document, p) for p in (item.get("parameters") or []) + own]

    def schemas(self) -> Iterator[tuple[str, dict]]:
        """Every schema in the document, with its pointer, each once."""
        roots: list[tuple[tuple, Any]] = []
        for name, schema in (self.document.get("components", {}).get("schemas") or {}).items():
            roots.append((("components", "schemas", name), schema))
        for path, item in (self.document.get("paths") or {}).items():
            for at, parameter in enumerate(item.get("parameters") or []):
                roots.append((("paths", path, "parameters", at, "schema"), parameter.get("schema")))
            for method in METHODS:
                operation = item.get(method)
                if not isinstance(operation, dict):
                    continue
                base = ("paths", path, method)
                for at, parameter in enumerate(operation.get("parameters") or []):
                    roots.append(((*base, "parameters", at, "schema"), parameter.get("schema")))
                body = operation.get("requestBody") or {}
                for media, content in (body.get("content") or {}).items():
                    roots.append(
                        ((*base, "requestBody", "content", media, "schema"), content.get("schema"))
                    )
                for status, response in (operation.get("responses") or {}).items():
                    rbase = (*base, "responses", status)
                    for media, content in (response.get("content") or {}).items():
                        roots.append(((*rbase, "content", media, "schema"), content.get("schema")))
                    for header, spec in (response.get("headers") or {}).items():
                        roots.append(((*rbase, "headers", header, "schema"), spec.get("schema")))
        for name, response in (self.document.get("components", {}).get("responses") or {}).items():
            for media, content in (response.get("content") or {}).items():
                roots.append(
                    (
                        ("components", "responses", name, "content", media, "schema"),
                        content.get("schema"),
                    )
                )
        seen: set[int] = set()
        stack = [(parts, schema) for parts, schema in reversed(roots)]
        while stack:
            parts, schema = stack.pop()
            if not isinstance(schema, dict) or id(schema) in seen:
                continue
            seen.add(id(schema))
            yield _pointer(*parts), schema
            children: list[tuple[tuple, Any]] = []
            for keyword in SCHEMA_KEYWORDS:
                if keyword in schema:
                    children.append(((*parts, keyword), schema[keyword]))
            for keyword in SCHEMA_LIST_KEYWORDS:
                for at, child in enumerate(schema.get(keyword) or []):
                    children.append(((*parts, keyword, at), child))
            for keyword in SCHEMA_MAP_KEYWORDS:
                for name, child in (schema.get(keyword) or {}).items():
                    children.append(((*parts, keyword, name), child))
            stack.extend(reversed(children))

    def refs(self) -> Iterator[str]:
        return _refs(self.document)

    # Rules --------------------------------------------------------------------------------

    def run(self) -> list[Problem]:
        for rule in (
            self.no_unresolved_refs,
            self.info,
            self.servers,
            self.paths,
            self.operations_rules,
            self.parameters_rules,
            self.security_defined,
            self.schema_rules,
            self.examples,
            self.components,
            self.tags,
        ):
            rule()
        return self.problems

    def no_unresolved_refs(self) -> None:
        for ref in self.refs():
            try:
                if not ref.startswith("#/"):
                    raise KeyError(ref)
                _resolve(self.document, {"$ref": ref})
            except (KeyError, IndexError, TypeError):
                self.report("no-unresolved-refs", "error", ref, "Can't resolve $ref.")

    def info(self) -> None:
        info = self.document.get("info") or {}
        license_ = info.get("license")
        if not license_:
            self.report("info-license", "warn", "#/info", "Info object should contain `license`.")
        elif not (license_.get("url") or license_.get("identifier")):
            self.report(
                "info-license-strict", "warn", "#/info/license", "License should have a url."
            )
        if not info.get("contact"):
            self.report("info-contact", "warn", "#/info", "Info object should contain `contact`.")

    def servers(self) -> None:
        servers = self.document.get("servers")
        if not servers:
            self.report("no-empty-servers", "error", "#/servers", "Servers must not be empty.")
            return
        for at, server in enumerate(servers):
            url = server.get("url", "")
            pointer = _pointer("servers", at, "url")
            if url.endswith("/") and url != "/":
                self.report("no-server-trailing-slash", "error", pointer, "Trailing slash.")
            if "example.com" in url:
                self.report("no-server-example.com", "warn", pointer, "example.com server.")
            variables = server.get("variables") or {}
            for name in TEMPLATE.findall(url):
                if name not in variables:
                    self.report(
                        "no-undefined-server-variable", "error", pointer, f"{name} undefined."
                    )
            for name, variable in variables.items():
                if "enum" in variable and not variable["enum"]:
                    self.report(
                        "no-server-variables-empty-enum", "error", pointer, f"{name}: empty enum."
                    )

    def paths(self) -> None:
        paths = list(self.document.get("paths") or {})
        shapes: dict[str, str] = {}
        for path in paths:
            pointer = _pointer("paths", path)
            if path != "/" and path.endswith("/"):
                self.report("no-path-trailing-slash", "error", pointer, "Trailing slash.")
            if "?" in path:
                self.report("path-not-include-query", "error", pointer, "Query in the path.")
            if "{}" in path:
                self.report("path-declaration-must-exist", "error", pointer, "Empty `{}`.")
            shape = TEMPLATE.sub("{}", path)
            if shape in shapes:
                self.report(
                    "no-identical-paths", "error", pointer, f"Identical to {shapes[shape]}."
                )
            shapes.setdefault(shape, path)
        for later, path in enumerate(paths):
            for earlier in paths[:later]:
                if TEMPLATE.sub("{}", path) != TEMPLATE.sub("{}", earlier) and _ambiguous(
                    earlier, path
                ):
                    self.report(
                        "no-ambiguous-paths",
                        "warn",
                        _pointer("paths", path),
                        f"Ambiguous with {earlier}.",
                    )

    def operations_rules(self) -> None:
        ids: Counter[str] = Counter(
            op["operationId"] for _, _, _, op in self.operations() if "operationId" in op
        )
        for path, method, _, operation in self.operations():
            pointer = _pointer("paths", path, method)
            if not str(operation.get("summary") or "").strip():
                self.report("operation-summary", "error", pointer, "Operation has no summary.")
            operation_id = operation.get("operationId")
            if not operation_id:
                self.report("operation-operationId", "warn", pointer, "No operationId.")
            else:
                if ids[operation_id] > 1:
                    self.report(
                        "operation-operationId-unique", "error", pointer, f"{operation_id} again."
                    )
                if not URL_SAFE.match(operation_id):
                    self.report("operation-operationId-url-safe", "error", pointer, "Not URL-safe.")
            statuses = [str(s) for s in operation.get("responses") or {}]
            if not any(s.startswith("2") or s in ("default", "2XX") for s in statuses):
                self.report("operation-2xx-response", "warn", pointer, "No 2xx response.")
            if not any(s.startswith("4") for s in statuses):
                self.report("operation-4xx-response", "warn", pointer, "No 4xx response.")

    def parameters_rules(self) -> None:
        for path, item in (self.document.get("paths") or {}).items():
            level = [_resolve(self.document, p) for p in item.get("parameters") or []]
            self._unique(level, _pointer("paths", path, "parameters"))
            templated = TEMPLATE.findall(path)
            for name, count in Counter(templated).items():
                if count > 1:
                    self.report(
                        "path-parameters-defined",
                        "error",
                        _pointer("paths", path),
                        f"{{{name}}} appears twice in the path.",
                    )
            for method in METHODS:
                operation = item.get(method)
                if not isinstance(operation, dict):
                    continue
                pointer = _pointer("paths", path, method)
                own = [_resolve(self.document, p) for p in operation.get("parameters") or []]
                self._unique(own, f"{pointer}/parameters")
                in_path = {p.get("name") for p in level + own if p.get("in") == "path"}
                for name in templated:
                    if name not in in_path:
                        self.report(
                            "path-parameters-defined",
                            "error",
                            pointer,
                            f"The path parameter {name} is not defined.",
                        )
                for name in in_path - set(templated):
                    self.report(
                        "path-parameters-defined",
                        "error",
                        pointer,
                        f"Path parameter {name} is not in the path.",
                    )

    def _unique(self, parameters: list[dict], pointer: str) -> None:
        counts = Counter((p.get("name"), p.get("in")) for p in parameters)
        for (name, where), count in counts.items():
            if count > 1:
                self.report(
                    "operation-parameters-unique", "error", pointer, f"{where} {name} twice."
                )

    def security_defined(self) -> None:
        schemes = self.document.get("components", {}).get("securitySchemes") or {}
        root = self.document.get("security")
        requirements: list[tuple[str, list]] = [("#/security", root or [])]
        for path, method, _, operation in self.operations():
            pointer = _pointer("paths", path, method)
            if "security" in operation:
                requirements.append((f"{pointer}/security", operation["security"]))
            elif not root:
                self.report("security-defined", "error", pointer, "No security for operation.")
        for pointer, requirement in requirements:
            for alternative in requirement:
                for name in alternative:
                    if name not in schemes:
                        self.report(
                            "security-defined", "error", pointer, f"Undefined scheme {name}."
                        )

    def schema_rules(self) -> None:
        for pointer, schema in self.schemas():
            types = schema.get("type")
            types = [types] if isinstance(types, str) else list(types or [])
            if types and "enum" in schema:
                for value in schema["enum"]:
                    if not any(_is(value, t) for t in types):
                        self.report(
                            "no-enum-type-mismatch",
                            "error",
                            f"{pointer}/enum",
                            f"{value!r} is not of type {types}.",
                        )
            if types == ["object"] and "items" in schema:
                self.report("no-schema-type-mismatch", "error", pointer, "object with items.")
            if types == ["array"] and "properties" in schema:
                self.report("no-schema-type-mismatch", "error", pointer, "array with properties.")
            for bound in ("minimum", "maximum"):
                exclusive = "exclusive" + bound.capitalize()
                if bound in schema and exclusive in schema:
                    self.report(
                        "no-mixed-number-range-constraints",
                        "warn",
                        pointer,
                        f"Both {bound} and {exclusive}.",
                    )
            if schema.get("required"):
                defined = self._properties(schema, set())
                for at, name in enumerate(schema["required"]):
                    if name not in defined:
                        self.report(
                            "no-required-schema-properties-undefined",
                            "warn",
                            f"{pointer}/required/{at}",
                            f"Required property {name!r} is undefined.",
                        )
            for key in ("examples", "example"):
                examples = schema.get(key)
                values = examples if key == "examples" and isinstance(examples, list) else []
                if key == "example" and key in schema:
                    values = [examples]
                for value in values:
                    self._check_example(
                        "no-invalid-schema-examples", schema, value, f"{pointer}/{key}"
                    )

    def _properties(self, schema: Any, seen: set[int]) -> set[str]:
        """The properties a schema defines itself or through allOf/anyOf, as Redocly counts."""
        schema = _resolve(self.document, schema)
        if not isinstance(schema, dict) or id(schema) in seen:
            return set()
        seen.add(id(schema))
        names = set(schema.get("properties") or {})
        for keyword in ("allOf", "anyOf"):
            for child in schema.get(keyword) or []:
                names |= self._properties(child, seen)
        return names

    def examples(self) -> None:
        for path, method, item, operation in self.operations():
            pointer = _pointer("paths", path, method)
            for at, parameter in enumerate(self.parameters(item, operation)):
                self._examples_of(
                    "no-invalid-parameter-examples", parameter, f"{pointer}/parameters/{at}"
                )
            media = list(((operation.get("requestBody") or {}).get("content") or {}).items())
            for response in (operation.get("responses") or {}).values():
                media += list((_resolve(self.document, response).get("content") or {}).items())
            for media_type, content in media:
                self._examples_of(
                    "no-invalid-media-type-examples", content, f"{pointer} {media_type}"
                )

    def _examples_of(self, rule: str, holder: dict, pointer: str) -> None:
        schema = holder.get("schema")
        if "example" in holder and schema is not None:
            self._check_example(rule, schema, holder["example"], f"{pointer}/example")
        for name, example in (holder.get("examples") or {}).items():
            example = _resolve(self.document, example)
            if "value" in example and "externalValue" in example:
                self.report(
                    "no-example-value-and-externalValue",
                    "error",
                    f"{pointer}/examples/{name}",
                    "Both value and externalValue.",
                )
            if "value" in example and schema is not None:
                self._check_example(
                    rule, schema, example["value"], f"{pointer}/examples/{name}/value"
                )

    def _check_example(self, rule: str, schema: dict, value: Any, pointer: str) -> None:
        standalone = {**_rebase(schema), "$defs": {"document": _rebase(self.document)}}
        for error in Draft202012Validator(standalone).iter_errors(value):
            self.report(
                rule, "warn", pointer, f"Example does not match its schema: {error.message}"
            )

    def components(self) -> None:
        components = self.document.get("components") or {}
        refs = set(self.refs())
        for kind, entries in components.items():
            if not isinstance(entries, dict):
                continue
            for name in entries:
                pointer = _pointer("components", kind, name)
                if not COMPONENT_NAME.match(name):
                    self.report(
                        "spec-components-invalid-map-name", "error", pointer, "Invalid name."
                    )
                if kind != "securitySchemes" and pointer not in refs:
                    self.report("no-unused-components", "warn", pointer, "Never referenced.")

    def tags(self) -> None:
        tags = self.document.get("tags") or []
        for name, count in Counter(tag.get("name") for tag in tags).items():
            if count > 1:
                self.report("no-duplicated-tag-names", "warn", "#/tags", f"{name} twice.")
        for at, tag in enumerate(tags):
            if not tag.get("description"):
                self.report("tag-description", "warn", _pointer("tags", at), "No description.")


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _is(value: Any, type_name: str) -> bool:
    if type_name in ("integer", "number") and isinstance(value, bool):
        return False
    if type_name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, TYPE_OF.get(type_name, object))


def _ambiguous(a: str, b: str) -> bool:
    """Redocly's test: same number of segments, every fixed segment pair equal unless one of
    them is templated, and as many templated segments on each side."""
    parts_a, parts_b = a.split("/"), b.split("/")
    if len(parts_a) != len(parts_b):
        return False
    a_vars = b_vars = 0
    for x, y in zip(parts_a, parts_b, strict=True):
        x_var, y_var = bool(re.fullmatch(r"{.+?}", x)), bool(re.fullmatch(r"{.+?}", y))
        if x_var or y_var:
            a_vars += x_var
            b_vars += y_var
        elif x != y:
            return False
    return a_vars == b_vars


def _rebase(node: Any) -> Any:
    """A schema of the document, its local $refs pointed into `$defs/document` so it validates
    on its own."""
    if isinstance(node, dict):
        return {
            key: (
                "#/$defs/document/" + value.removeprefix("#/")
                if key == "$ref" and isinstance(value, str)
                else _rebase(value)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rebase(value) for value in node]
    return node


def lint(document: dict[str, Any]) -> list[Problem]:
    return Linter(document).run()
