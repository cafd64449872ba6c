"""CI without long-lived tokens (SPEC §16): a deployment's OIDC trust policies (admin), and the
exchange of a CI provider's ID token for a short-lived `mio_oidc_…` token (no Authorization
header: the ID token is the credential)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse, JsonResponse

from .. import permissions, rules, selectors, services
from ..actors import Actor
from ..errors import validated
from ..models import GITHUB_ISSUER, MAX_TTL_SECONDS, OidcPolicy
from .endpoint import PUBLIC, ApiRequest, api_endpoint
from .inputs import ENVIRONMENT_NAME, Body, Choice, Field, Number, OneOf, Text, invalid
from .payload import read_json_object
from .rows import deployment_ref, timestamp
from .schemas import DEPLOYMENT_ID, DEPLOYMENT_REF, TIMESTAMP, errors, json_content, ref

EXAMPLE_JWKS = {
    "keys": [
        {
            "kty": "EC",
            "crv": "P-256",
            "x": "ck1EPCHp9ozTJsRKy4y8ipUSBqh1PAchyiko0hlxpts",
            "y": "8XP1-p9dy3HHme1TN4zSeaupF5SxVUrTw4gjR8_oSS0",
            "kid": "example",
            "use": "sig",
            "alg": "ES256",
        }
    ]
}
CLAIM_VALUE = {"type": ["string", "integer", "boolean"], "minLength": 1}


# Request bodies ---------------------------------------------------------------------------


class Names(Field):
    """A non-empty list of environment names."""

    kind = ("array",)

    def clean(self, value: Any, pointer: str) -> list[str]:
        if not isinstance(value, list) or not value:
            raise invalid("Name the environments as a non-empty list.", pointer)
        for position, name in enumerate(value):
            if not isinstance(name, str):
                raise invalid("Each environment is a name.", f"{pointer}[{position}]")
            validated(rules.validate_environment_name, name, field=f"{pointer}[{position}]")
        return value

    def base_schema(self) -> dict[str, Any]:
        return {"type": "array", "minItems": 1, "maxItems": 200, "items": ENVIRONMENT_NAME}


class Claims(Field):
    """An object of claim names to the exact value each must have."""

    kind = ("object",)

    def clean(self, value: Any, pointer: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise invalid("claims is an object of claim names and values.", pointer)
        for name, claim in value.items():
            if isinstance(claim, float) or not isinstance(claim, str | int | bool) or claim == "":
                raise invalid(
                    "Each claim's value is a non-empty string, a whole number or a boolean.",
                    f"{pointer}.{name}"[:200],
                )
        return value

    def base_schema(self) -> dict[str, Any]:
        return {"type": "object", "maxProperties": 20, "additionalProperties": CLAIM_VALUE}


class Jwks(Field):
    """A JWKS document (its keys are checked by the service)."""

    kind = ("object",)

    def clean(self, value: Any, pointer: str) -> dict[str, Any]:
        if not isinstance(value, dict) or not isinstance(value.get("keys"), list):
            raise invalid('jwks is a JWKS document, {"keys": [...]}.', pointer)
        if not value["keys"] or not all(isinstance(key, dict) for key in value["keys"]):
            raise invalid("jwks holds at least one key, each an object.", pointer)
        return value

    def base_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["keys"],
            "properties": {
                "keys": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 20,
                    "items": {"type": "object"},
                }
            },
        }


class DeploymentReference(Field):
    """A deployment's id or name."""

    kind = ("integer", "string")

    def clean(self, value: Any, pointer: str) -> int | str:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
        if isinstance(value, str):
            return validated(rules.validate_deployment_name, value, field=pointer)
        raise invalid("deployment is the deployment's id or name.", pointer)

    def base_schema(self) -> dict[str, Any]:
        return {"type": ["integer", "string"], "minimum": 1, "pattern": rules.DEPLOYMENT_NAME_RE}


# The fields of every policy; the keys come pinned (jwks, and maybe jwks_url) or from a URL.
_POLICY_FIELDS: dict[str, Field] = dict(
    issuer=Text(
        min_length=1, max_length=500, example=GITHUB_ISSUER, description="The iss, exactly."
    ),
    audience=Text(
        min_length=1,
        max_length=500,
        example="miosa",
        description="The aud the ID token must hold (GitHub: the audience miosa requests).",
    ),
    subject=Text(
        min_length=1,
        max_length=500,
        example="repo:acme/shop:environment:production",
        description="The sub, exactly or as a glob (* any run of characters). A subject "
        "matching everything with no other claim is refused (400 too_broad).",
    ),
    claims=Claims(
        required=False,
        example={"repository_id": "123456789"},
        description="Claims the ID token must also hold, exactly (prefer repository_id and "
        "repository_owner_id to names, which can be registered again by someone else).",
    ),
    environments=Names(
        description="The environments the minted token may act on; each must exist.",
        example=["production"],
    ),
    role=Choice(
        OidcPolicy.TokenRole.values,
        message="role is developer or admin.",
        description="The minted token's role on those environments.",
    ),
    ttl_seconds=Number(
        required=False,
        default=900,
        maximum=MAX_TTL_SECONDS,
        states={"minimum": 60},
        description="How long a minted token lives (it also ends with the ID token's exp).",
    ),
)
JWKS_URL_DESCRIPTION = (
    "Where the issuer publishes its keys: https:// only (http:// on a loopback address with "
    "OIDC_ALLOW_INSECURE_JWKS=true)."
)
POLICY = OneOf(
    "jwks",
    then=Body(
        "OidcPolicyPinnedInput",
        **_POLICY_FIELDS,
        jwks=Jwks(
            example=EXAMPLE_JWKS,
            description="The issuer's public keys, pinned (RSA or EC; tried before jwks_url).",
        ),
        jwks_url=Text(
            required=False,
            min_length=1,
            max_length=500,
            example=f"{GITHUB_ISSUER}/.well-known/jwks",
            description=JWKS_URL_DESCRIPTION + " Fetched when no pinned key has the token's kid.",
        ),
    ),
    otherwise=Body(
        "OidcPolicyUrlInput",
        **_POLICY_FIELDS,
        jwks_url=Text(
            min_length=1,
            max_length=500,
            example=f"{GITHUB_ISSUER}/.well-known/jwks",
            description=JWKS_URL_DESCRIPTION + " Without jwks, it is required.",
        ),
    ),
)
EXCHANGE = Body(
    "OidcExchangeInput",
    deployment=DeploymentReference(description="The deployment's id or name."),
    token=Text(
        min_length=1,
        max_length=16 * 1024,
        description="The CI provider's OIDC ID token (a JWT signed with RS256 or ES256).",
    ),
)


# Rows -------------------------------------------------------------------------------------


def policy_row(policy: OidcPolicy) -> dict[str, Any]:
    return {
        "id": policy.pk,
        "issuer": policy.issuer,
        "audience": policy.audience,
        "subject": policy.subject,
        "claims": policy.claims,
        "environments": policy.environments,
        "role": policy.role,
        "ttl_seconds": policy.ttl_seconds,
        "jwks": policy.jwks,
        "jwks_url": policy.jwks_url or None,
        "created_at": timestamp(policy.created_at),
    }


# Views ------------------------------------------------------------------------------------


@api_endpoint(
    "GET",
    "POST",
    body={"POST": POLICY},
    need={
        "GET": (permissions.TO_MANAGE_OIDC, "Seeing CI trust policies"),
        "POST": (permissions.TO_MANAGE_OIDC, "Adding CI trust policies"),
    },
)
def policies(request: ApiRequest) -> HttpResponse:
    if request.method == "POST":
        body = request.body
        policy = services.create_oidc_policy(
            deployment=request.deployment,
            issuer=body["issuer"],
            audience=body["audience"],
            subject=body["subject"],
            claims=body.get("claims"),
            environments=body["environments"],
            role=body["role"],
            ttl_seconds=body["ttl_seconds"],
            jwks=body.get("jwks"),
            jwks_url=body.get("jwks_url", ""),
            actor=request.actor,
        )
        return JsonResponse({"policy": policy_row(policy)}, status=201)
    rows = [policy_row(p) for p in selectors.oidc_policies(request.deployment)]
    return JsonResponse({"deployment": deployment_ref(request.deployment), "policies": rows})


@api_endpoint(
    "GET",
    "DELETE",
    need={
        "GET": (permissions.TO_MANAGE_OIDC, "Seeing CI trust policies"),
        "DELETE": (permissions.TO_MANAGE_OIDC, "Deleting CI trust policies"),
    },
)
def policy_detail(request: ApiRequest, policy_id: int) -> HttpResponse:
    policy = selectors.get_oidc_policy(request.deployment, policy_id)
    if request.method == "DELETE":
        services.delete_oidc_policy(policy=policy, actor=request.actor)
        return HttpResponse(status=204)
    return JsonResponse({"policy": policy_row(policy)})


@api_endpoint("POST", auth=PUBLIC, body={"POST": EXCHANGE})
def exchange(request: HttpRequest) -> HttpResponse:
    body = EXCHANGE.parse(read_json_object(request))
    deployment = selectors.deployment_named(body["deployment"])
    request.user = AnonymousUser()  # the ID token is the credential, never a browser session
    # A refusal (services.OidcRefused) is a 401 invalid_oidc_token with its reason.
    minted = services.exchange_oidc_token(
        deployment=deployment, id_token=body["token"], actor=Actor.from_request(request)
    )
    token = minted.token
    return JsonResponse(
        {
            "token": minted.raw,
            "expires_at": timestamp(token.expires_at),
            "role": token.role,
            "environments": token.environments,
            "deployment": deployment_ref(deployment),
        },
        status=201,
    )


# OpenAPI ----------------------------------------------------------------------------------

POLICY_PROPERTIES = {
    "id": {"type": "integer", "minimum": 1},
    "issuer": {"type": "string"},
    "audience": {"type": "string"},
    "subject": {"type": "string"},
    "claims": {"type": "object", "additionalProperties": CLAIM_VALUE},
    "environments": {"type": "array", "items": ENVIRONMENT_NAME},
    "role": {"enum": list(OidcPolicy.TokenRole.values)},
    "ttl_seconds": {"type": "integer", "minimum": 60, "maximum": MAX_TTL_SECONDS},
    "jwks": {
        "type": ["object", "null"],
        "description": "The pinned public keys (public members only), or null.",
    },
    "jwks_url": {"type": ["string", "null"]},
    "created_at": TIMESTAMP,
}
POLICY_ID = {"name": "policy_id", "in": "path", "required": True, "schema": {"type": "integer"}}

SCHEMAS: dict[str, Any] = {
    **POLICY.component(),
    **EXCHANGE.component(),
    "OidcPolicy": {
        "type": "object",
        "required": list(POLICY_PROPERTIES),
        "additionalProperties": False,
        "properties": POLICY_PROPERTIES,
    },
    "OidcPolicyAnswer": {
        "type": "object",
        "required": ["policy"],
        "additionalProperties": False,
        "properties": {"policy": ref("OidcPolicy")},
    },
    "OidcPolicyList": {
        "type": "object",
        "required": ["deployment", "policies"],
        "additionalProperties": False,
        "properties": {
            "deployment": DEPLOYMENT_REF,
            "policies": {"type": "array", "items": ref("OidcPolicy")},
        },
    },
    "OidcExchangeAnswer": {
        "type": "object",
        "required": ["token", "expires_at", "role", "environments", "deployment"],
        "additionalProperties": False,
        "properties": {
            "token": {
                "type": "string",
                "pattern": "^mio_oidc_",
                "description": "Shown once. Send it as Authorization: Bearer; it cannot create "
                "tokens and acts only on `environments`, only on the CI endpoints.",
            },
            "expires_at": {
                **TIMESTAMP,
                "description": "The earlier of the policy's ttl_seconds from now and the ID "
                "token's exp (at most an hour).",
            },
            "role": {"enum": list(OidcPolicy.TokenRole.values)},
            "environments": {"type": "array", "items": ENVIRONMENT_NAME},
            "deployment": DEPLOYMENT_REF,
        },
    },
}

PATHS: dict[str, Any] = {
    "/deployments/{deployment_id}/oidc-policies": {
        "parameters": [DEPLOYMENT_ID],
        "get": {
            "operationId": "listOidcPolicies",
            "summary": "The deployment's CI trust policies (admin).",
            "responses": {
                "200": json_content(ref("OidcPolicyList"), "The policies, oldest first."),
                **errors(400, 401, 403, 404, 500),
            },
        },
        "post": {
            "operationId": "createOidcPolicy",
            "summary": "Trust a CI provider's ID tokens (admin). Audited as oidc.policy_create.",
            "requestBody": POLICY.request_body(),
            "responses": {
                "201": json_content(ref("OidcPolicyAnswer"), "The policy."),
                **errors(400, 401, 403, 404, 413, 415, 500),
            },
        },
    },
    "/deployments/{deployment_id}/oidc-policies/{policy_id}": {
        "parameters": [DEPLOYMENT_ID, POLICY_ID],
        "get": {
            "operationId": "getOidcPolicy",
            "summary": "One CI trust policy (admin).",
            "responses": {
                "200": json_content(ref("OidcPolicyAnswer"), "The policy."),
                **errors(400, 401, 403, 404, 500),
            },
        },
        "delete": {
            "operationId": "deleteOidcPolicy",
            "summary": "Stop trusting (admin); the live tokens it minted are revoked. Audited "
            "as oidc.policy_delete.",
            "responses": {
                "204": {"description": "Deleted."},
                **errors(400, 401, 403, 404, 500),
            },
        },
    },
    "/oidc/token": {
        "post": {
            "operationId": "exchangeOidcToken",
            "summary": "Exchange a CI provider's OIDC ID token for a short-lived token (no "
            "Authorization header). Checked: the signature (RS256 or ES256, the policy's pinned "
            "keys or its JWKS URL's), iss and aud exactly, exp, nbf and iat within 60 s, the "
            "subject and claims against one policy, the jti never used before. Audited as "
            "oidc.exchange, or oidc.refused with the reason (never the token).",
            "security": [],
            "requestBody": EXCHANGE.request_body(),
            "responses": {
                "201": json_content(ref("OidcExchangeAnswer"), "The minted token."),
                "401": json_content(
                    ref("Error"),
                    "Code invalid_oidc_token, with the reason in the message (never the token).",
                ),
                **{
                    status: answer
                    for status, answer in errors(400, 413, 415, 500).items()
                    if status != "429"
                },
            },
        },
    },
}
