"""audit.append on PostgreSQL prepares an event's values for its one statement without
get_db_prep_save where that would hand them back unchanged: the values must be the same."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from environments import audit
from environments.models import AuditEvent
from tests.concurrently import skip_unless_postgres


def _comparable(value):
    return getattr(value, "obj", value)  # a JSON value's adapter: what it adapts


def _every_field(deployment, owner, **changes) -> dict:
    """An event's fields, every one given (the content hash, the coalescing key and moment too)."""
    return {
        "created_at": audit.now(),
        "actor": owner,
        "actor_label": "alice",
        "action": "runtime.fetch",
        "deployment": deployment,
        "deployment_name": deployment.name,
        "environment_name": "production",
        "target": "web-1",
        "ip": "10.0.0.1",
        "user_agent": "curl/8",
        "outcome": AuditEvent.Outcome.DENIED,
        "detail": {"release": 3},
        "chain": deployment.pk,
        "content_hash": "0" * 64,
        "coalesce_key": "k",
        "coalesce_until": audit.now(),
    } | changes


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("ip", ["127.0.0.1", "2001:db8::1", "::ffff:10.0.0.1", None])
@pytest.mark.parametrize(
    "until", [None, dt.datetime(2026, 12, 3, 9, 30, 1, 5, tzinfo=dt.UTC)], ids=["open", "until"]
)
def test_each_value_is_what_get_db_prep_save_gives(deployment, owner, ip, until):
    skip_unless_postgres()
    event = AuditEvent(
        **_every_field(
            deployment,
            owner,
            ip=ip,
            detail={"format": "json", "release": 3, "nested": {"a": [1, None]}},
            coalesce_until=until,
        )
    )
    fields = audit._content_fields()
    for field, prepare in zip(fields, audit._content_preparers(), strict=True):
        expected = field.get_db_prep_save(field.pre_save(event, True), connection)
        assert _comparable(prepare(event)) == _comparable(expected), field.name
        assert type(_comparable(prepare(event))) is type(_comparable(expected)), field.name


@pytest.mark.django_db
@pytest.mark.parametrize("given", ["all", "few", "ids"])
def test_new_event_is_what_the_models_init_makes(deployment, owner, given):
    fields = {
        "all": _every_field(deployment, owner),
        "few": dict(action="x", actor=None, deployment=None, chain=0),
        "ids": dict(action="x", actor_id=owner.pk, deployment_id=deployment.pk, chain=1),
    }[given]
    made, expected = audit.new_event(dict(fields)), AuditEvent(**fields)
    state = ("adding", "db", "fields_cache")
    mine = {k: v for k, v in vars(made).items() if k != "_state"}
    theirs = {k: v for k, v in vars(expected).items() if k != "_state"}
    mine["created_at"] = theirs["created_at"] = None  # a default of now(): its own moment
    assert mine == theirs
    assert {k: getattr(made._state, k) for k in state} == {
        k: getattr(expected._state, k) for k in state
    }
    for name in ("actor", "deployment"):
        assert getattr(made, name) == getattr(expected, name)
    with pytest.raises(TypeError):
        audit.new_event({"not_a_field": 1})
