"""The deployment settings page (templates/environments/deployment_settings.html)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from .. import permissions, selectors, services
from ..actors import Actor
from ..models import Deployment
from ..permissions import has_role
from . import forms
from .pages import HtmxHttpRequest, deployment_tabs, deployment_url, no_store


def _settings_page(
    request: HtmxHttpRequest,
    deployment: Deployment,
    role: str,
    *,
    form: forms.ApexForm | None = None,
    required_form: forms.RequiredKeysForm | None = None,
    secret_age_form: forms.SecretAgeForm | None = None,
    notice: str = "",
    status: int = 200,
) -> HttpResponse:
    """The settings page; with htmx after a required-keys or secret-age post, that region
    (`required_keys`, `secret_age`) alone."""
    can_set_required = has_role(role, permissions.TO_MANAGE_REQUIRED_KEYS)
    context = deployment_tabs(deployment, role) | {
        "tab": "settings",
        "required_keys": deployment.required_keys,
        "can_set_required_keys": can_set_required,
        "required_form": required_form
        or forms.RequiredKeysForm(initial={"keys": "\n".join(deployment.required_keys)}),
        "required_notice": notice if required_form is not None else "",
        "max_secret_age_days": deployment.max_secret_age_days,
        "can_set_secret_age": can_set_required,  # the same admins: both are release policy
        "secret_age_form": secret_age_form
        or forms.SecretAgeForm(initial={"max_secret_age_days": deployment.max_secret_age_days}),
        "secret_age_notice": notice if secret_age_form is not None else "",
    }
    if request.htmx and (required_form is not None or secret_age_form is not None):
        region = "required_keys" if required_form is not None else "secret_age"
        template = f"environments/deployment_settings.html#{region}"
        return render(request, template, context, status=status)
    environments = selectors.pipeline_environments(deployment)
    context |= {
        "form": form or forms.ApexForm(initial={"apex_domain": deployment.apex_domain}),
        "suggestions": selectors.apex_suggestions(deployment, environments),
        "delete_form": forms.ConfirmNameForm(expected=deployment.name),
        "can_delete_deployment": has_role(role, permissions.TO_DELETE_DEPLOYMENT),
        "can_manage_oidc": has_role(role, permissions.TO_MANAGE_OIDC),
    }
    return render(request, "environments/deployment_settings.html", context, status=status)


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def deployment_settings(request: HtmxHttpRequest, deployment_id: int) -> HttpResponse:
    """Every member sees the settings; the apex domain is set by admins."""
    need = permissions.TO_SEE_SETTINGS if request.method == "GET" else permissions.TO_MANAGE_DOMAINS
    deployment, role = selectors.get_deployment_for_user(request.user, deployment_id, need=need)
    if request.method == "GET":
        return _settings_page(request, deployment, role)
    form = forms.ApexForm(request.POST)
    done = forms.submit(
        form,
        lambda data: services.set_apex_domain(
            deployment=deployment,
            apex=data["apex_domain"],
            actor=Actor.from_request(request),
            visible_deployment_ids=selectors.visible_deployment_ids(request.user),
        ),
    )
    if done.result is None:
        return _settings_page(request, deployment, role, form=form, status=done.status)
    messages.success(request, _apex_message(done.result))
    return redirect(deployment_url(deployment, "deployment_settings"))


@no_store
@require_POST
@login_required
def required_keys(request: HtmxHttpRequest, deployment_id: int) -> HttpResponse:
    """Set the keys every release must define (SPEC §9)."""
    deployment, role = selectors.get_deployment_for_user(
        request.user, deployment_id, need=permissions.TO_MANAGE_REQUIRED_KEYS
    )
    form = forms.RequiredKeysForm(request.POST)
    done = forms.submit(
        form,
        lambda data: services.set_required_keys(
            deployment=deployment, keys=data["keys"], actor=Actor.from_request(request)
        ),
    )
    if done.result is None:
        return _settings_page(request, deployment, role, required_form=form, status=done.status)
    keys = done.result
    notice = (
        f"Every release must now define {', '.join(keys)}."
        if keys
        else "No key is required any more."
    )
    deployment.required_keys = keys
    if request.htmx:
        return _settings_page(
            request,
            deployment,
            role,
            required_form=forms.RequiredKeysForm(initial={"keys": "\n".join(keys)}),
            notice=notice,
        )
    messages.success(request, notice)
    return redirect(deployment_url(deployment, "deployment_settings") + "#required-keys")


@no_store
@require_POST
@login_required
def secret_age(request: HtmxHttpRequest, deployment_id: int) -> HttpResponse:
    """Set past how many days a secret is flagged overdue (SPEC §14). Admins, like the other
    release policy of the page (required keys)."""
    deployment, role = selectors.get_deployment_for_user(
        request.user, deployment_id, need=permissions.TO_MANAGE_REQUIRED_KEYS
    )
    form = forms.SecretAgeForm(request.POST)
    done = forms.submit(
        form,
        lambda data: services.set_max_secret_age(
            deployment=deployment,
            days=data["max_secret_age_days"],
            actor=Actor.from_request(request),
        ),
    )
    if not done.written:
        return _settings_page(request, deployment, role, secret_age_form=form, status=done.status)
    days = done.result
    deployment.max_secret_age_days = days
    notice = (
        f"A secret older than {days} day{'' if days == 1 else 's'} is now flagged overdue."
        if days
        else "No secret is flagged overdue for its age any more."
    )
    if request.htmx:
        fresh = forms.SecretAgeForm(initial={"max_secret_age_days": days})
        return _settings_page(request, deployment, role, secret_age_form=fresh, notice=notice)
    messages.success(request, notice)
    return redirect(deployment_url(deployment, "deployment_settings") + "#secret-age")


def _apex_message(result: services.ApexResult) -> str:
    if not result.apex:
        return "Removed the apex domain. Attached domains stay where they are."
    text = f"The apex domain is now {result.apex}."
    if result.attached:
        text += f" Attached {', '.join(result.attached)}."
    if result.skipped:
        text += f" Skipped {', '.join(result.skipped)}: already attached elsewhere."
    if not result.attached and not result.skipped:
        text += " Its domains were already attached."
    return text


@no_store
@require_POST
@login_required
def deployment_delete(request: HtmxHttpRequest, deployment_id: int) -> HttpResponse:
    deployment = selectors.get_deployment_for_user(
        request.user, deployment_id, need=permissions.TO_DELETE_DEPLOYMENT
    ).deployment
    form = forms.ConfirmNameForm(request.POST, expected=deployment.name)
    if not form.is_valid():
        messages.error(request, form.errors["confirm_name"][0])
        return redirect(deployment_url(deployment, "deployment_settings"))
    services.delete_deployment(deployment=deployment, actor=Actor.from_request(request))
    messages.success(request, f"Deleted {deployment.name}.")
    return redirect("deployment_list")
