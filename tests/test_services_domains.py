from __future__ import annotations

import pytest

from environments import services
from environments.actors import Actor
from environments.errors import Conflict, Invalid
from environments.models import AuditEvent, Deployment, Domain


def test_add_domain_normalises(production, actor):
    domain = services.add_domain(environment=production, hostname="Bücher.Example", actor=actor)
    assert domain.hostname == "xn--bcher-kva.example"
    assert AuditEvent.objects.filter(action="domain.add", target="xn--bcher-kva.example").exists()


def test_a_pasted_url_is_refused_with_a_hint(production, actor):
    with pytest.raises(Invalid) as excinfo:
        services.add_domain(
            environment=production, hostname="https://app.example.com/", actor=actor
        )
    assert "app.example.com" in excinfo.value.message and excinfo.value.field == "hostname"


def test_domains_are_unique_across_deployments(production, actor, make_user):
    services.add_domain(environment=production, hostname="app.example.com", actor=actor)
    other_owner = make_user("other")
    other = services.create_deployment(
        name="blog", actor=Actor(user=other_owner, label=other_owner.get_username())
    )
    other_prod = other.environments.get(name="production")
    with pytest.raises(Conflict) as excinfo:
        services.add_domain(
            environment=other_prod,
            hostname="APP.example.com",
            actor=Actor(user=other_owner, label=other_owner.get_username()),
            visible_deployment_ids={other.pk},
        )
    assert excinfo.value.message == "app.example.com is already attached to another deployment."
    with pytest.raises(Conflict) as excinfo:
        services.add_domain(environment=other_prod, hostname="app.example.com", actor=actor)
    assert "shop/production" in excinfo.value.message


def test_setting_the_apex_attaches_production_and_staging(deployment, production, staging, actor):
    result = services.set_apex_domain(deployment=deployment, apex="Shop.IO", actor=actor)
    assert result.attached == ["shop.io", "staging.shop.io"] and result.skipped == []
    assert Domain.objects.get(hostname="shop.io").environment == production
    assert Domain.objects.get(hostname="staging.shop.io").environment == staging
    # Again: nothing new, nothing skipped.
    assert (
        services.set_apex_domain(deployment=deployment, apex="shop.io", actor=actor).attached == []
    )


def test_apex_skips_hosts_taken_elsewhere(deployment, actor, make_user):
    o2 = make_user("o2")
    other = services.create_deployment(name="other", actor=Actor(user=o2, label="o2"))
    services.add_domain(
        environment=other.environments.get(name="staging"), hostname="staging.shop.io", actor=actor
    )
    result = services.set_apex_domain(deployment=deployment, apex="shop.io", actor=actor)
    assert result.attached == ["shop.io"] and result.skipped == ["staging.shop.io"]


def test_the_apex_may_only_be_attached_to_production(deployment, staging, actor):
    services.set_apex_domain(deployment=deployment, apex="shop.io", actor=actor)
    Domain.objects.filter(hostname="shop.io").delete()
    with pytest.raises(Invalid) as excinfo:
        services.add_domain(environment=staging, hostname="shop.io", actor=actor)
    assert excinfo.value.code == "apex_production_only"


def test_remove_domain(production, actor):
    domain = services.add_domain(environment=production, hostname="app.example.com", actor=actor)
    services.remove_domain(domain=domain, actor=actor)
    assert not Domain.objects.exists()
    assert AuditEvent.objects.filter(action="domain.remove").exists()


def test_a_long_apex_skips_the_staging_host_that_would_be_invalid(deployment, actor):
    apex = ".".join(["a" * 60] * 4) + ".io"  # 247 characters: staging.<apex> would be 255
    result = services.set_apex_domain(deployment=deployment, apex=apex, actor=actor)
    assert result.attached == [apex]
    assert result.skipped == [f"staging.{apex}"]
    assert not Domain.objects.filter(hostname=f"staging.{apex}").exists()


def test_removing_the_apex_domain_clears_the_apex(deployment, production, actor, make_user):
    services.set_apex_domain(deployment=deployment, apex="shop.io", actor=actor)
    services.remove_domain(domain=Domain.objects.get(hostname="shop.io"), actor=actor)
    assert Deployment.objects.get(pk=deployment.pk).apex_domain == ""
    event = AuditEvent.objects.filter(action="deployment.set_apex").latest("id")
    assert (event.target, event.detail) == ("", {"reason": "shop.io was removed"})
    # The hostname is free: another deployment claims it, as its apex too, and this one's
    # staging may now attach it.
    o3 = make_user("o3")
    other = services.create_deployment(name="other", actor=Actor(user=o3, label="o3"))
    services.set_apex_domain(deployment=other, apex="shop.io", actor=actor)
    assert Domain.objects.get(hostname="shop.io").environment.deployment == other


def test_removing_another_domain_keeps_the_apex(deployment, staging, actor):
    services.set_apex_domain(deployment=deployment, apex="shop.io", actor=actor)
    services.remove_domain(domain=Domain.objects.get(hostname="staging.shop.io"), actor=actor)
    assert Deployment.objects.get(pk=deployment.pk).apex_domain == "shop.io"
    assert AuditEvent.objects.filter(action="deployment.set_apex").count() == 1
