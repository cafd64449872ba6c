"""The environment page's "Import .env" section: paste or upload a file, see the dry run's
diff (key names only), then confirm. The file is never sent back to the browser: after a
refusal the textarea starts empty, and the confirmation carries only the preview's id."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from .. import import_parser, permissions, selectors, services
from ..actors import Actor
from ..errors import ServiceError
from ..models import Environment
from . import forms
from .environment_page import EnvironmentPage, ImportStep, release_notice, render_environment
from .pages import HtmxHttpRequest, env_url, no_store

SESSION_KEY = "environments.import_preview"


def _section(
    request: HtmxHttpRequest,
    environment: Environment,
    role: str,
    *,
    status: int = 200,
    error: str = "",
    step: ImportStep | None = None,
) -> HttpResponse:
    page = EnvironmentPage(environment, role, "import", status=status, error=error, imported=step)
    return render_environment(request, page)


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def variable_import(request: HtmxHttpRequest, deployment_id: int, name: str) -> HttpResponse:
    """GET: the section (a Cancel lands here). POST: preview a file, or, with `confirm`, import
    the file previewed last."""
    environment, role = selectors.get_environment_for_user(
        request.user, deployment_id, name, need=permissions.to_write_variables
    )
    if request.method == "GET":
        return _section(request, environment, role)
    if request.POST.get("confirm"):
        return _confirm(request, environment, role)
    return _preview(request, environment, role)


def _preview(request: HtmxHttpRequest, environment: Environment, role: str) -> HttpResponse:
    form = forms.ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _section(request, environment, role, status=400, step=ImportStep(form=form))
    text = form.cleaned_data["text"]
    try:
        items = import_parser.parse_dotenv(text)
        secret_keys = import_parser.parse_secret_keys([form.cleaned_data["secret_keys"]], items)
        diff = services.preview_import(
            environment=environment,
            items=items,
            secret_keys=secret_keys,
            actor=Actor.from_request(request),
        )
    except ServiceError as exc:
        return _section(
            request,
            environment,
            role,
            status=forms.refusal_status(exc),
            error=exc.message,
            step=ImportStep(form=form),
        )
    preview = import_parser.seal_preview(
        text, secret_keys, user_id=request.user.pk, environment_id=environment.pk
    )
    request.session[SESSION_KEY] = preview
    return _section(request, environment, role, step=ImportStep(form, diff, preview["id"]))


def _confirm(request: HtmxHttpRequest, environment: Environment, role: str) -> HttpResponse:
    kept = import_parser.open_preview(
        request.session.get(SESSION_KEY),
        request.POST.get("preview_id", ""),
        user_id=request.user.pk,
        environment_id=environment.pk,
    )
    if kept is None:
        return _section(
            request,
            environment,
            role,
            status=409,
            error="That preview is no longer the latest one; paste or upload the file again.",
        )
    text, secret_keys = kept
    try:
        items = import_parser.parse_dotenv(text)
        services.import_variables(
            environment=environment,
            items=items,
            secret_keys=secret_keys,
            actor=Actor.from_request(request),
        )
    except ServiceError as exc:
        # Refused now (changed meanwhile, say): the preview is spent either way.
        request.session.pop(SESSION_KEY, None)
        return _section(
            request, environment, role, status=forms.refusal_status(exc), error=exc.message
        )
    request.session.pop(SESSION_KEY, None)
    notice = f"Imported {len(items)} variable{'' if len(items) == 1 else 's'}."
    messages.success(request, notice + release_notice(environment))
    # The variables, their count, the pending changes and the summary all changed: the whole
    # page's content is swapped in place (a redirect to the same URL would only scroll).
    if not request.htmx:
        return redirect(env_url(environment) + "#variables")
    response = render_environment(request, EnvironmentPage(environment, role))
    response["HX-Retarget"] = "#main"
    response["HX-Reselect"] = "#main"
    response["HX-Reswap"] = "outerHTML show:#variables:top"
    return response
