"""The "CI trust (OIDC)" page under a deployment's settings (SPEC §16): the trust policies (add,
delete, asked in place) and the tokens they minted that are still live (revoke). Admins only."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from .. import permissions, selectors, services
from ..actors import Actor
from ..models import Deployment
from . import forms
from .pages import HtmxHttpRequest, asked_id, deployment_tabs, deployment_url, no_store, unconfirmed


@dataclass(frozen=True)
class TrustPage:
    form: forms.OidcPolicyForm | None = None
    deleting: int | None = None  # a policy's id: "Delete …?" asked in its row
    revoking: int | None = None  # a minted token's id: "Revoke …?" asked in its row
    status: int = 200


def _admin_of(request: HtmxHttpRequest, deployment_id: int) -> selectors.DeploymentAccess:
    return selectors.get_deployment_for_user(
        request.user, deployment_id, need=permissions.TO_MANAGE_OIDC
    )


def _form(deployment: Deployment, data=None) -> forms.OidcPolicyForm:
    names = [e.name for e in selectors.deployment_environments(deployment)]
    return forms.OidcPolicyForm(data, environment_names=names)


def _page(
    request: HtmxHttpRequest, deployment: Deployment, role: str, page: TrustPage
) -> HttpResponse:
    context = deployment_tabs(deployment, role) | {
        "tab": "settings",
        "policies": selectors.oidc_policies(deployment),
        "tokens": selectors.live_oidc_tokens(deployment),
        "form": page.form or _form(deployment),
        "deleting": page.deleting,
        "revoking": page.revoking,
        "page_url": deployment_url(deployment, "oidc_policies"),
    }
    template = "environments/oidc_policies.html"
    if request.htmx and page.form is None:
        template += "#trust"
    return render(request, template, context, status=page.status)


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def oidc_policies(request: HtmxHttpRequest, deployment_id: int) -> HttpResponse:
    deployment, role = _admin_of(request, deployment_id)
    if request.method == "GET":
        page = TrustPage(deleting=asked_id(request, "delete"), revoking=asked_id(request, "revoke"))
        return _page(request, deployment, role, page)
    form = _form(deployment, request.POST)
    done = forms.submit(
        form,
        lambda data: services.create_oidc_policy(
            deployment=deployment,
            issuer=data["issuer"],
            audience=data["audience"],
            subject=data["subject"],
            claims=data["claims"],
            environments=data["environments"],
            role=data["role"],
            ttl_seconds=data["ttl_seconds"],
            jwks=data["jwks"],
            jwks_url=data["jwks_url"].strip(),
            actor=Actor.from_request(request),
        ),
    )
    if done.result is None:
        return _page(request, deployment, role, TrustPage(form=form, status=done.status))
    messages.success(request, f"CI tokens from {done.result.subject} are now trusted.")
    return redirect(deployment_url(deployment, "oidc_policies"))


@no_store
@require_POST
@login_required
def oidc_policy_delete(request: HtmxHttpRequest, deployment_id: int, pk: int) -> HttpResponse:
    deployment, _ = _admin_of(request, deployment_id)
    policy = selectors.get_oidc_policy(deployment, pk)
    asking = unconfirmed(
        request,
        question=f"Stop trusting {policy.subject}?",
        label="Delete",
        detail="Its live tokens are revoked with it.",
        cancel_url=deployment_url(deployment, "oidc_policies"),
    )
    if asking:
        return asking
    services.delete_oidc_policy(policy=policy, actor=Actor.from_request(request))
    messages.success(request, f"Deleted the policy for {policy.subject}.")
    return redirect(deployment_url(deployment, "oidc_policies"))


@no_store
@require_POST
@login_required
def oidc_token_revoke(request: HtmxHttpRequest, deployment_id: int, pk: int) -> HttpResponse:
    deployment, _ = _admin_of(request, deployment_id)
    token = selectors.get_oidc_token(deployment, pk)
    asking = unconfirmed(
        request,
        question=f"Revoke the token of {token.subject}?",
        label="Revoke",
        cancel_url=deployment_url(deployment, "oidc_policies"),
    )
    if asking:
        return asking
    services.revoke_oidc_token(token=token, actor=Actor.from_request(request))
    messages.success(request, f"Revoked the token of {token.subject}.")
    return redirect(deployment_url(deployment, "oidc_policies"))
