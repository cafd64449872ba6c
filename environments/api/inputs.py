"""Request bodies, each declared once: `Body.parse` reads a JSON object into the values a view
uses, refusing what it cannot take with the API's error envelope (`unknown_field`, `required`,
`invalid`, the field named, `variables[3].key` inside a list), and `Body.schema` is the same
declaration as the OpenAPI requestBody schema. Enums and limits come from `rules` and `models`.

A whole number is written without a fraction: `532`, never `532.0`. JSON Schema's `integer`
would admit both, so every integer property says so in its description, and the API refuses
`532.0` with 400 invalid (a client that sends floats has a bug worth seeing). A field left out
takes its default when it has one, else is absent from the parsed body.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from .. import rules
from ..errors import validated
from .errors import ApiError

ENVIRONMENT_NAME = {"type": "string", "pattern": rules.ENVIRONMENT_NAME_RE}
NO_NUL = r"^[^\x00]*$"
# Keys starting MIOSA_, in any case: [Mm][Ii]… (a JSON Schema pattern has no flags).
RESERVED = "^" + "".join(
    f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in rules.RESERVED_PREFIX
)


def invalid(message: str, pointer: str) -> ApiError:
    return ApiError(400, "invalid", message, field=pointer[:200])


WHOLE = "A whole number written without a fraction (7, not 7.0)."


def whole_number(value: Any) -> int | None:
    """The value when it is a JSON integer (not true or false, not 7.0); else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


class Field:
    """One property of a body. `parse(value, pointer)` gets a value that was sent."""

    kind: tuple[str, ...] = ()  # the JSON types accepted, for the schema and the drift test
    enum: tuple[Any, ...] | None = None

    def __init__(
        self,
        *,
        required: bool = True,
        default: Any = None,
        nullable: bool = False,
        description: str = "",
        example: Any = None,
        check: Callable[[Any], Any] | None = None,
        states: dict[str, Any] | None = None,
    ) -> None:
        self.required = required and default is None
        self.default = default
        self.nullable = nullable
        self.description = description
        self.example = example
        self.check = check
        # What the services check and the schema states (a label's length, say).
        self.states = states or {}

    def parse(self, value: Any, pointer: str) -> Any:
        if value is None and self.nullable:
            return None
        value = self.clean(value, pointer)
        return validated(self.check, value, field=pointer) if self.check else value

    def clean(self, value: Any, pointer: str) -> Any:
        return value

    def base_schema(self) -> dict[str, Any]:
        return {"type": self.kind[0]}

    def schema(self) -> dict[str, Any]:
        schema = self.base_schema() | self.states
        if self.nullable:
            if "type" in schema:
                schema["type"] = [schema["type"], "null"]
            if "enum" in schema:
                schema["enum"] = [*schema["enum"], None]
        if self.default is not None:
            schema["default"] = self.default
        if self.example is not None:
            schema["examples"] = [self.example]
        if self.description:
            schema["description"] = self.description
        return schema


class Name(Field):
    """An environment's name."""

    kind = ("string",)

    def clean(self, value: Any, pointer: str) -> str:
        if not isinstance(value, str):
            raise invalid("Name the environment as a string.", pointer)
        return validated(rules.validate_environment_name, value, field=pointer)

    def base_schema(self) -> dict[str, Any]:
        return dict(ENVIRONMENT_NAME)


class Text(Field):
    """A string. `plain=False` keeps the checks of a string the services validate (a value
    may hold anything they accept); otherwise it must be UTF-8 without NUL."""

    kind = ("string",)

    def __init__(
        self,
        *,
        min_length: int = 0,
        max_length: int | None = None,
        pattern: str | None = None,
        plain: bool = True,
        strip: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.min_length = min_length
        self.max_length = max_length
        self.pattern = pattern
        self.plain = plain
        self.strip = strip

    def clean(self, value: Any, pointer: str) -> str:
        name = pointer.rsplit(".", 1)[-1]
        if not isinstance(value, str):
            raise invalid(f"{name} must be a string.", pointer)
        if self.strip:
            value = value.strip()
        if self.plain:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise invalid(f"{name} is not valid UTF-8 text.", pointer) from None
            if "\x00" in value:
                raise invalid(f"{name} may not contain a NUL character.", pointer)
        if len(value) < self.min_length and self.check is None:
            raise invalid(f"{name} may not be empty.", pointer)
        if self.max_length is not None and len(value) > self.max_length:
            raise invalid(f"{name} is at most {self.max_length} characters.", pointer)
        return value

    def base_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string"}
        if self.min_length:
            schema["minLength"] = self.min_length
        if self.max_length is not None:
            schema["maxLength"] = self.max_length
        if self.pattern:
            schema["pattern"] = self.pattern
        elif self.plain:
            schema["pattern"] = NO_NUL
        return schema


class Key(Text):
    """A variable's key (the services validate it; the schema says what they accept)."""

    def __init__(self, **options: Any) -> None:
        options.setdefault(
            "description",
            f"Keys starting {rules.RESERVED_PREFIX} are reserved, and so are the keys a process "
            "needs from its machine: " + ", ".join(sorted(rules.PROCESS_KEYS)) + " and names "
            "starting " + " or ".join(rules.PROCESS_KEY_PREFIXES) + " (400 reserved_key).",
        )
        super().__init__(pattern=rules.VARIABLE_KEY_RE, plain=False, **options)

    def base_schema(self) -> dict[str, Any]:
        return {
            **super().base_schema(),
            "not": {
                "anyOf": [
                    {"pattern": RESERVED},
                    {"enum": sorted(rules.PROCESS_KEYS)},
                    {"pattern": "^(" + "|".join(rules.PROCESS_KEY_PREFIXES) + ")"},
                ]
            },
        }


class Number(Field):
    """A whole number from 1 (release, revision and version numbers)."""

    kind = ("integer",)

    def __init__(self, *, maximum: int | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.maximum = maximum

    def clean(self, value: Any, pointer: str) -> int:
        name = pointer.rsplit(".", 1)[-1]
        number = whole_number(value)
        if self.check:
            return value  # the rule says what is wrong
        if number is None:
            raise invalid(f"{name} must be a whole number.", pointer)
        if number < 1:
            raise invalid(f"{name} starts at 1.", pointer)
        if self.maximum is not None and number > self.maximum:
            raise invalid(f"{name} is at most {self.maximum}.", pointer)
        return number

    def base_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "integer", "minimum": 1}
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        return schema

    def schema(self) -> dict[str, Any]:
        schema = super().schema()
        schema["description"] = " ".join(filter(None, [schema.get("description"), WHOLE]))
        return schema


class Flag(Field):
    kind = ("boolean",)

    def clean(self, value: Any, pointer: str) -> bool:
        if not isinstance(value, bool):
            raise invalid(f"{pointer.rsplit('.', 1)[-1]} must be true or false.", pointer)
        return value


class Choice(Field):
    """One of `values` (a TextChoices, a tuple, the keys of a mapping)."""

    def __init__(self, values: Iterable[str], *, message: str = "", **options: Any) -> None:
        super().__init__(**options)
        self.enum = tuple(values.values if isinstance(values, type) else values)
        self.message = message

    def clean(self, value: Any, pointer: str) -> str:
        name = pointer.rsplit(".", 1)[-1]
        if self.check:
            if not isinstance(value, str):
                raise invalid(f"{name} must be a string.", pointer)
            return value  # the rule refuses with its own words
        if value not in self.enum:
            raise invalid(self.message or f"{name} is {' or '.join(self.enum)}.", pointer)
        return value

    def base_schema(self) -> dict[str, Any]:
        return {"enum": list(self.enum)}


class Moment(Field):
    """An ISO 8601 time with its zone, as UTC."""

    kind = ("string",)
    MESSAGE = "{} is an ISO 8601 time with its zone, like 2026-12-01T12:00:00Z."

    def clean(self, value: Any, pointer: str) -> datetime:
        message = self.MESSAGE.format(pointer)
        if not isinstance(value, str) or len(value) > 40:
            raise invalid(message, pointer)
        try:
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is None:
                raise ValueError("no time zone")
            return moment.astimezone(UTC)
        except (ValueError, OverflowError):  # OverflowError: beyond year 9999 once in UTC
            raise invalid(message, pointer) from None

    def base_schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "date-time", "maxLength": 40}


class KeyList(Field):
    """A list of variable keys (the services validate each and the count)."""

    kind = ("array",)

    def clean(self, value: Any, pointer: str) -> list[str]:
        if not isinstance(value, list):
            raise invalid("Give the required keys as a list of names.", pointer)
        for position, key in enumerate(value):
            if not isinstance(key, str):
                raise invalid("Each required key is a name.", f"{pointer}[{position}]")
        return value

    def base_schema(self) -> dict[str, Any]:
        return {
            "type": "array",
            "items": Key().schema(),
            "maxItems": rules.MAX_KEYS_PER_ENVIRONMENT,
        }


class Items(Field):
    """A non-empty list of objects, each a `Body`; more than `limit` is `too_many` (an
    ApiError: a 413, so the schema states it in words, not as maxItems, which is a 400),
    raised before any item is read."""

    kind = ("array",)

    def __init__(
        self,
        body: Body,
        *,
        message: str,
        limit: int | None = None,
        too_many: Callable[[str], ApiError] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.body = body
        self.message = message
        self.limit = limit
        self.too_many = too_many

    def clean(self, value: Any, pointer: str) -> list[dict[str, Any]]:
        if not isinstance(value, list) or not value:
            raise invalid(self.message, pointer)
        if self.limit is not None and len(value) > self.limit:
            raise self.too_many(pointer) if self.too_many else invalid(self.message, pointer)
        items = []
        for position, item in enumerate(value):
            prefix = f"{pointer}[{position}]"
            if not isinstance(item, dict):
                raise invalid("Each variable is an object.", prefix)
            items.append(self.body.parse(item, prefix=f"{prefix}."))
        return items

    def base_schema(self) -> dict[str, Any]:
        return {"type": "array", "minItems": 1, "items": ref(self.body.name)}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


class Body:
    """A JSON object body: its fields by name, and the name of its schema in the document."""

    def __init__(self, name: str, /, *, description: str = "", **fields: Field) -> None:
        self.name = name
        self.description = description
        self.fields: Mapping[str, Field] = fields

    def parse(self, body: dict[str, Any], *, prefix: str = "") -> dict[str, Any]:
        for name in body:
            if name not in self.fields:
                raise ApiError(
                    400,
                    "unknown_field",
                    f"{name[:100]} is not a field here; the fields are "
                    f"{', '.join(sorted(self.fields))}.",
                    field=f"{prefix}{name}"[:200],
                )
        parsed: dict[str, Any] = {}
        for name, field in self.fields.items():
            pointer = f"{prefix}{name}"
            if name in body:
                parsed[name] = field.parse(body[name], pointer)
            elif field.required:
                raise ApiError(400, "required", f"{name} is required.", field=pointer)
            elif field.default is not None:
                parsed[name] = field.default
        return parsed

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "object"}
        if self.description:
            schema["description"] = self.description
        required = [name for name, field in self.fields.items() if field.required]
        if required:
            schema["required"] = required
        schema["additionalProperties"] = False
        schema["properties"] = {name: field.schema() for name, field in self.fields.items()}
        return schema

    def component(self) -> dict[str, dict[str, Any]]:
        """The schemas this body puts in the document's components (its items' too)."""
        schemas = {self.name: self.schema()}
        for field in self.fields.values():
            if isinstance(field, Items):
                schemas |= field.body.component()
        return schemas

    def request_body(self) -> dict[str, Any]:
        return {"required": True, "content": {"application/json": {"schema": ref(self.name)}}}


class OneOf:
    """One of two bodies, told apart by whether `when` is a field of the object sent."""

    def __init__(self, when: str, then: Body, otherwise: Body) -> None:
        self.when = when
        self.then = then
        self.otherwise = otherwise
        self.bodies = (otherwise, then)

    def parse(self, body: dict[str, Any]) -> dict[str, Any]:
        return (self.then if self.when in body else self.otherwise).parse(body)

    def component(self) -> dict[str, dict[str, Any]]:
        return self.otherwise.component() | self.then.component()

    def request_body(self) -> dict[str, Any]:
        schema = {"oneOf": [ref(self.otherwise.name), ref(self.then.name)]}
        return {"required": True, "content": {"application/json": {"schema": schema}}}


# Rotations (SPEC §14)

ROTATION_REASON_MIN = 10


def _rotation_reason(value: str) -> str:
    from django.core.exceptions import ValidationError

    if len(value.strip()) < ROTATION_REASON_MIN:
        raise ValidationError(
            f"Say why in at least {ROTATION_REASON_MIN} characters: instances still on the old "
            "credential lose their access."
        )
    return value.strip()


ROTATION_FORCE = Body(
    "RotationForceInput",
    reason=Text(
        min_length=ROTATION_REASON_MIN,
        max_length=500,
        check=_rotation_reason,
        description="Why the old credential is revoked before every instance moved (audited).",
        example="web-3 was decommissioned and will never restart",
    ),
)
