from __future__ import annotations

import json as jsonlib

import pytest
from django.test import Client

from environments import services
from environments.actors import Actor
from tests.api.openapi_check import check_response


class Api:
    """The test client, speaking bearer + JSON, checking every answer against the OpenAPI
    document (so every test is also a test of the document's honesty)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json=None,
        body: bytes | str = b"",
        content_type: str = "application/json",
        params: dict | None = None,
        headers: dict | None = None,
        **extra,
    ):
        headers = dict(headers or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if json is not None:
            body = jsonlib.dumps(json)
        response = self.client.generic(
            method,
            path,
            data=body,
            content_type=content_type,
            headers=headers,
            query_params=params,
            **extra,
        )
        check_response(response, method)
        return response

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json=None, **kwargs):
        return self.request("POST", path, json=json, **kwargs)

    def put(self, path: str, json=None, **kwargs):
        return self.request("PUT", path, json=json, **kwargs)

    def patch(self, path: str, json=None, **kwargs):
        return self.request("PATCH", path, json=json, **kwargs)

    def delete(self, path: str, **kwargs):
        return self.request("DELETE", path, **kwargs)


@pytest.fixture
def api(client) -> Api:
    return Api(client)


@pytest.fixture
def token_for(db):
    """token_for(user) -> a new raw personal API token of that user."""

    def make(user, name: str = "ci") -> str:
        _, raw = services.create_api_token(
            user=user, name=name, actor=Actor(user=user, label=user.get_username())
        )
        return raw

    return make


@pytest.fixture
def role_token(member, owner, token_for, make_user, actor):
    """role_token(role) -> a token of a user with that role on `deployment`.

    "owner" is the deployment's owner; "outsider" a member of another deployment only.
    """

    def make(role: str) -> str:
        if role == "owner":
            return token_for(owner)
        if role == "outsider":
            stranger = make_user("stranger")
            services.create_deployment(
                name="other", actor=Actor(user=stranger, label=stranger.get_username())
            )
            return token_for(stranger)
        return token_for(member(role))

    return make


@pytest.fixture
def runtime_token(actor):
    """runtime_token(environment) -> a new raw runtime token for it."""

    def make(environment, name: str = "") -> str:
        _, raw = services.create_runtime_token(environment=environment, name=name, actor=actor)
        return raw

    return make


@pytest.fixture
def env_url(deployment) -> str:
    return f"/api/v1/deployments/{deployment.pk}/env"


@pytest.fixture
def live(deployment, staging, production, actor):
    """v1 is live in staging and in production (release 1 of each); production stages its
    config changes, staging takes them live at once."""
    version = services.create_version(deployment=deployment, label="sha1", actor=actor)
    services.deploy_version(environment=staging, version=version, actor=actor)
    services.deploy_version(environment=production, version=version, actor=actor)
    return version


@pytest.fixture
def served(api, runtime_token):
    """served(environment) -> the runtime JSON the environment's instances get now."""

    def fetch(environment) -> dict:
        response = api.get("/api/v1/runtime/env", token=runtime_token(environment))
        assert response.status_code == 200
        return response.json()

    return fetch
