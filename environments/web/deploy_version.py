"""Deploy a version here (templates/environments/deploy_version.html): run one of the recent
versions in an environment, without registering a new one. The confirmation asks in place and
lists what goes live with it, as a promotion's does; the refusals are the service's
(staging first, required keys, already running)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from .. import selectors, services
from ..actors import Actor
from ..errors import ServiceError
from ..models import ChangeRequest, Environment
from . import forms
from .change_requests import may_release, opened, reason_from
from .forms.change_requests import ReasonForm
from .forms.deploy import DeployVersionForm
from .pages import Context, HtmxHttpRequest, env_url, environment_tabs, no_store

RECENT = 20


def _choices(environment: Environment) -> tuple[list[tuple[int, str]], dict[int, object]]:
    deployment = environment.deployment
    recent = selectors.recent_versions(
        deployment, selectors.environments_in_order(deployment), limit=RECENT
    )
    choices, versions = [], {}
    for item in recent:
        version = item.version
        if version.pk == environment.active_version_id:
            continue  # already runs here
        where = f" · runs in {', '.join(item.running_in)}" if item.running_in else ""
        label = f"v{version.number}{f' ({version.label})' if version.label else ''}{where}"
        choices.append((version.number, label))
        versions[version.number] = version
    return choices, versions


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def deploy_version(request: HtmxHttpRequest, deployment_id: int, name: str) -> HttpResponse:
    """GET: pick a version (`?version=N`: the confirmation). POST: deploy it, once confirmed."""
    environment, role = selectors.get_environment_for_user(
        request.user, deployment_id, name, need=selectors.need_to_release
    )
    choices, versions = _choices(environment)
    data = request.POST if request.method == "POST" else (request.GET or None)
    form = DeployVersionForm(data, choices=choices)
    context: Context = environment_tabs(environment, role) | {
        "tab": "environment",
        "form": form,
        "has_versions": bool(choices),
        "current": environment.active_version,
        "confirm": None,
        "error": "",
    }
    status = 200
    if data is not None and form.is_valid():
        version = versions[form.cleaned_data["version"]]
        if request.method == "POST" and form.cleaned_data["confirmed"]:
            try:
                release = services.deploy_version(
                    environment=environment,
                    version=version,
                    actor=Actor.from_request(request),
                    reason=reason_from(request),
                    may_release=may_release(role, environment),
                )
            except ServiceError as exc:
                context["error"], status = exc.message, forms.refusal_status(exc)
            else:
                if isinstance(release, ChangeRequest):
                    return opened(request, release)
                messages.success(
                    request,
                    f"{environment.name} now runs v{version.number} (release {release.number}, "
                    f"config {release.config_revision}). Instances get it at their next boot.",
                )
                return redirect(env_url(environment))
        protected = selectors.is_protected(environment)
        context["confirm"] = {
            "version": version,
            "pending": selectors.pending_changes(environment),
            "missing": selectors.missing_required_keys(environment),
            # In a protected environment the deploy opens a change request (SPEC §15).
            "protected": protected,
            "verb": "Request to deploy" if protected else "Deploy",
            "reason_form": ReasonForm(request.POST or None) if protected else None,
        }
    elif data is not None:
        status = 400
    return render(request, "environments/deploy_version.html", context, status=status)
