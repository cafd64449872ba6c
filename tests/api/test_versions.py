"""GET/POST /api/v1/deployments/:id/versions: register a version, list them newest first."""

from __future__ import annotations

import pytest

from environments import services
from environments.models import AuditEvent, Version


def _url(deployment) -> str:
    return f"/api/v1/deployments/{deployment.pk}/versions"


def test_a_developer_registers_a_version(api, deployment, role_token):
    response = api.post(
        _url(deployment),
        {"label": "abc123", "notes": "Fix checkout"},
        token=role_token("developer"),
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["number"], body["label"], body["notes"], body["created_by"]) == (
        1,
        "abc123",
        "Fix checkout",
        "developer-user",
    )
    assert body["created_at"].endswith("Z")
    version = Version.objects.get(deployment=deployment)
    assert (version.number, version.label, version.notes) == (1, "abc123", "Fix checkout")
    event = AuditEvent.objects.get(action="version.create")
    assert event.target == "v1" and event.actor_label == "developer-user (token ci)"


def test_label_and_notes_may_be_left_out_and_numbers_grow(api, deployment, role_token):
    raw = role_token("developer")
    assert api.post(_url(deployment), {}, token=raw).json()["number"] == 1
    body = api.post(_url(deployment), {"label": "  v2  "}, token=raw).json()
    assert (body["number"], body["label"], body["notes"]) == (2, "v2", "")


def test_notes_of_4_kib_are_accepted_and_more_is_413(api, deployment, role_token):
    raw = role_token("developer")
    assert api.post(_url(deployment), {"notes": "é" * 2048}, token=raw).status_code == 201
    response = api.post(_url(deployment), {"notes": "é" * 2048 + "x"}, token=raw)
    assert response.status_code == 413
    assert response.json()["error"] == {
        "code": "notes_too_large",
        "message": "Version notes are at most 4096 bytes (4 KiB).",
        "field": "notes",
    }
    assert Version.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"label": "x" * 201}, "invalid", "label"),
        ({"label": 7}, "invalid", "label"),
        ({"notes": ["a"]}, "invalid", "notes"),
        ({"notes": "\ud800"}, "invalid", "notes"),
        ({"label": "a\x00b"}, "invalid", "label"),
        ({"label": "a", "version": 3}, "unknown_field", "version"),
    ],
)
def test_bad_input_is_400_and_registers_nothing(api, deployment, role_token, body, code, field):
    response = api.post(_url(deployment), body, token=role_token("developer"))
    assert response.status_code == 400
    assert (response.json()["error"]["code"], response.json()["error"]["field"]) == (code, field)
    assert not Version.objects.exists()
    assert not AuditEvent.objects.filter(action="version.create").exists()


def test_versions_are_listed_newest_first_and_paged(api, deployment, actor, role_token):
    for n in range(5):
        services.create_version(deployment=deployment, label=f"sha{n + 1}", actor=actor)
    raw = role_token("viewer")
    body = api.get(_url(deployment), token=raw, params={"limit": "2"}).json()
    assert body["deployment"] == {"id": deployment.pk, "name": "shop"}
    assert [v["number"] for v in body["versions"]] == [5, 4] and body["next"] == 4
    assert body["versions"][0]["label"] == "sha5" and body["versions"][0]["created_by"] == "olivia"
    seen, before = [5, 4], body["next"]
    while before is not None:
        body = api.get(_url(deployment), token=raw, params={"limit": "2", "before": before}).json()
        seen += [v["number"] for v in body["versions"]]
        before = body["next"]
    assert seen == [5, 4, 3, 2, 1]


def test_no_versions_is_an_empty_list(api, deployment, role_token):
    body = api.get(_url(deployment), token=role_token("viewer")).json()
    assert body["versions"] == [] and body["next"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": "0"}, "limit"), ({"limit": "101"}, "limit"), ({"before": "x"}, "before")],
)
def test_bad_paging_is_400(api, deployment, role_token, params, field):
    response = api.get(_url(deployment), token=role_token("viewer"), params=params)
    assert response.status_code == 400 and response.json()["error"]["field"] == field


@pytest.mark.parametrize(
    ("role", "get", "post"),
    [
        ("outsider", 404, 404),
        ("viewer", 200, 403),
        ("developer", 200, 201),
        ("admin", 200, 201),
        ("owner", 200, 201),
    ],
)
def test_who_may_list_and_register_versions(api, deployment, role_token, role, get, post):
    raw = role_token(role)
    assert api.get(_url(deployment), token=raw).status_code == get
    assert api.post(_url(deployment), {"label": "x"}, token=raw).status_code == post


def test_no_token_is_401(api, deployment):
    assert api.get(_url(deployment)).status_code == 401
    assert api.post(_url(deployment), {}).status_code == 401


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_are_405(api, deployment, role_token, method):
    response = api.request(method, _url(deployment), token=role_token("owner"), json={})
    assert response.status_code == 405 and response["Allow"] == "GET, POST"


@pytest.mark.parametrize("count", [1, 50])
def test_the_query_count_does_not_grow_with_versions(
    api, deployment, actor, role_token, django_assert_num_queries, count
):
    for _ in range(count):
        services.create_version(deployment=deployment, actor=actor)
    raw = role_token("viewer")
    api.get(_url(deployment), token=raw)  # token first use
    # token, membership (with deployment), a page of versions (with their creators)
    with django_assert_num_queries(3):
        body = api.get(_url(deployment), token=raw).json()
    assert len(body["versions"]) == count
