"""Web pages. Thin views: a selector reads (and checks the role), a service writes, a template
renders. Each region htmx swaps is a partial of its page's template; the view renders
"page.html#partial" when `request.htmx`, the whole page otherwise, so that every action also
works as a plain form post without JavaScript.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reswap, retarget

from . import crypto, forms, permissions, selectors, services
from .audit import Actor
from .errors import ServiceError
from .models import (
    ApiToken,
    Deployment,
    Environment,
    Role,
    RuntimeToken,
    Variable,
    Version,
)
from .permissions import has_role

Context = dict[str, Any]


def _api_error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return _api_error(404, "not_found", "There is nothing at this address.")
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return _api_error(500, "server_error", "Something went wrong on our side.")
    return render(request, "500.html", status=500)


# Helpers ---------------------------------------------------------------------------------


def no_store(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Every page here shows previews, names, roles or a token shown once: no cache, browser
    or proxy, keeps a copy (the Back button on a shared computer must not show them)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        patch_cache_control(response, no_store=True)
        return response

    return wrapped


def _status(exc: ServiceError) -> int:
    """The status a refused form answers with (htmx is configured to swap these)."""
    return exc.status if exc.status in (400, 409, 413) else 400


def _unconfirmed(
    request: HttpRequest, *, question: str, label: str, cancel_url: str, detail: str = ""
) -> HttpResponse | None:
    """Without JavaScript, a consequential one-button POST first shows a confirmation page.

    With htmx, `hx-confirm` has already asked; the confirmation page re-posts the same fields
    with `confirmed=yes`. Returns None when the action may go ahead.
    """
    if request.htmx or request.POST.get("confirmed") == "yes":
        return None
    fields = [
        (name, value)
        for name, value in request.POST.items()
        if name not in ("csrfmiddlewaretoken", "confirmed")
    ]
    context = {
        "question": question,
        "label": label,
        "detail": detail,
        "fields": fields,
        "action": request.path,
        "cancel_url": cancel_url,
    }
    return render(request, "environments/confirm.html", context)


def _page(request: HttpRequest, template: str, partial: str | None) -> str:
    return f"{template}#{partial}" if request.htmx and partial else template


def _env_url(environment: Environment, view: str = "environment", **kwargs: Any) -> str:
    return reverse(
        view,
        kwargs={"deployment_id": environment.deployment_id, "name": environment.name, **kwargs},
    )


def _deployment_url(deployment: Deployment, view: str = "deployment") -> str:
    return reverse(view, kwargs={"deployment_id": deployment.pk})


def _deployment_tabs(deployment: Deployment, role: str) -> Context:
    return {
        "deployment": deployment,
        "role": role,
        "can_see_audit": has_role(role, permissions.TO_READ_AUDIT),
        "can_manage_members": has_role(role, permissions.TO_MANAGE_MEMBERS),
        "can_manage_settings": has_role(role, permissions.TO_MANAGE_DOMAINS),
        "can_create_versions": has_role(role, permissions.TO_CREATE_VERSIONS),
        "can_manage_environments": has_role(role, permissions.TO_MANAGE_ENVIRONMENTS),
    }


# Deployments -----------------------------------------------------------------------------


@no_store
@require_GET
@login_required
def deployment_list(request: HttpRequest) -> HttpResponse:
    return _deployment_list_page(request)


def _deployment_list_page(
    request: HttpRequest, *, form: forms.DeploymentForm | None = None, status: int = 200
) -> HttpResponse:
    context = {
        "deployments": selectors.deployment_cards(request.user),
        "form": form or forms.DeploymentForm(),
    }
    return render(request, "environments/deployment_list.html", context, status=status)


@no_store
@require_POST
@login_required
def deployment_create(request: HttpRequest) -> HttpResponse:
    """Any logged-in user may create a deployment; they become its owner."""
    form = forms.DeploymentForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            deployment = services.create_deployment(
                name=form.cleaned_data["name"], actor=Actor.from_request(request)
            )
        except ServiceError as exc:
            forms.add_service_error(form, exc)
            status = _status(exc)
        else:
            messages.success(
                request, f"Created {deployment.name} with its production and staging environments."
            )
            return redirect(_deployment_url(deployment))
    return _deployment_list_page(request, form=form, status=status)


def _deployment_page(
    request: HttpRequest,
    deployment: Deployment,
    *,
    confirm: Context | None = None,
    notice: str = "",
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    environments = selectors.pipeline_environments(deployment)
    context = _deployment_tabs(deployment, deployment.role) | {
        "tab": "pipeline",
        "columns": selectors.pipeline_cards(deployment, environments, role=deployment.role),
        "confirm": confirm,
        "notice": notice,
        "error": error,
    }
    if not request.htmx:
        context["versions"] = selectors.recent_versions(deployment, environments)
    template = _page(request, "environments/deployment.html", "pipeline")
    return render(request, template, context, status=status)


@no_store
@require_GET
@login_required
def deployment_detail(request: HttpRequest, deployment_id: int) -> HttpResponse:
    deployment = selectors.get_deployment_for_user(request.user, deployment_id)
    return _deployment_page(request, deployment)


def _promotion_source(request: HttpRequest, deployment_id: int, name: str) -> Environment:
    """The source environment, if the user may deploy into its target (404 without a target)."""
    source = selectors.get_environment_for_user(request.user, deployment_id, name)
    source.promotes_to = selectors.get_promotion_target(source)
    if not has_role(source.role, permissions.to_deploy_into(source.promotes_to)):
        raise PermissionDenied(
            f"Promoting into {source.promotes_to.name} needs the "
            f"{permissions.to_deploy_into(source.promotes_to)} role or higher."
        )
    return source


def _may_write_both(role: str, left: Environment, right: Environment) -> bool:
    """Whether same/different on secrets and bindings may be shown (SPEC §3)."""
    return has_role(role, permissions.to_write_variables(left)) and has_role(
        role, permissions.to_write_variables(right)
    )


def _compared(
    request: HttpRequest, left: Environment, right: Environment, *, role: str, via: str = ""
) -> selectors.Comparison:
    """Compare two environments, audited first (if the event cannot be written, nothing is
    compared)."""
    hide = not _may_write_both(role, left, right)
    services.record_compare(
        left=left, right=right, secrets_hidden=hide, actor=Actor.from_request(request), via=via
    )
    return selectors.compare_environments(left, right, hide_secrets=hide)


def _confirmation(request: HttpRequest, source: Environment) -> Context:
    target = source.promotes_to
    comparison = _compared(request, source, target, role=source.role, via="promotion")
    return {
        "source": source,
        "target": target,
        "version": source.active_version,
        "target_version": target.active_version,
        "comparison": comparison,
        "nothing_differs": not comparison.changed_keys and not comparison.hidden,
    }


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def promote(request: HttpRequest, deployment_id: int, name: str) -> HttpResponse:
    source = _promotion_source(request, deployment_id, name)
    target = source.promotes_to
    deployment = source.deployment
    if request.method == "GET":
        if source.active_version is None:
            return _deployment_page(
                request, deployment, error=f"Nothing is deployed in {source.name} yet.", status=409
            )
        return _deployment_page(request, deployment, confirm=_confirmation(request, source))

    form = forms.PromoteForm(request.POST)
    if not form.is_valid():
        return _deployment_page(
            request, deployment, error="The promotion form was incomplete; try again.", status=400
        )
    try:
        change = services.promote(
            source=source,
            version_number=form.cleaned_data["version"],
            expected_target_version=form.cleaned_data["target_version"],
            check_target=True,
            target_id=target.pk,  # the target whose role requirement was checked
            actor=Actor.from_request(request),
        )
    except ServiceError as exc:
        return _deployment_page(request, deployment, error=exc.message, status=_status(exc))
    notice = f"{target.name} now runs v{change.to_version.number}, promoted from {source.name}."
    if request.htmx:
        return _deployment_page(request, deployment, notice=notice)
    messages.success(request, notice)
    return redirect(_deployment_url(deployment))


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def version_create(request: HttpRequest, deployment_id: int) -> HttpResponse:
    deployment = selectors.get_deployment_for_user(
        request.user, deployment_id, need=permissions.TO_CREATE_VERSIONS
    )
    environments = selectors.environments_in_order(deployment)
    deployable = [
        e.name for e in environments if has_role(deployment.role, permissions.to_deploy_into(e))
    ]
    can_create = has_role(deployment.role, permissions.TO_MANAGE_ENVIRONMENTS)
    form = forms.VersionForm(
        request.POST or None,
        deployable=deployable,
        can_create=can_create,
        initial={"deploy_to": "staging" if "staging" in deployable else ""},
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                version, where = _register_version(request, deployment, environments, form)
            except ServiceError as exc:
                forms.add_service_error(form, exc)
                status = _status(exc)
            else:
                text = f"Registered v{version.number}" + (
                    f" and deployed it to {where}." if where else "."
                )
                messages.success(request, text)
                return redirect(_deployment_url(deployment))
    context = _deployment_tabs(deployment, deployment.role) | {"tab": "pipeline", "form": form}
    return render(request, "environments/version_form.html", context, status=status)


@transaction.atomic
def _register_version(
    request: HttpRequest,
    deployment: Deployment,
    environments: list[Environment],
    form: forms.VersionForm,
) -> tuple[Version, str]:
    """Register a version and deploy it (into a new environment, maybe): all or nothing."""
    actor = Actor.from_request(request)
    data = form.cleaned_data
    version = services.create_version(
        deployment=deployment, label=data["label"], notes=data["notes"], actor=actor
    )
    where = data["deploy_to"]
    if where == forms.NEW_ENVIRONMENT:
        environment = services.create_environment(
            deployment=deployment, name=data["new_environment"], actor=actor
        )
        where = environment.name
    elif where:
        environment = next(e for e in environments if e.name == where)
    else:
        return version, ""
    try:
        services.deploy_version(environment=environment, version=version, actor=actor)
    except ServiceError as exc:
        if exc.field is None and where != forms.NEW_ENVIRONMENT:
            exc.field = "deploy_to"
        raise
    return version, where


# Environments ----------------------------------------------------------------------------


def _environment_tabs(environment: Environment) -> Context:
    return _deployment_tabs(environment.deployment, environment.role) | {"environment": environment}


def _environment_permissions(environment: Environment, *, refused_target: bool) -> Context:
    role = environment.role
    return {
        "can_write_variables": has_role(role, permissions.to_write_variables(environment)),
        "can_reveal": has_role(role, permissions.TO_REVEAL),
        # Production is the end of the pipeline: no target to pick, unless a refusal is shown.
        "can_set_target": has_role(role, permissions.to_deploy_into(environment))
        and (not environment.is_production or refused_target),
        "can_manage_bindings": has_role(role, permissions.TO_MANAGE_BINDINGS),
        "can_manage_domains": has_role(role, permissions.TO_MANAGE_DOMAINS),
        "can_manage_tokens": has_role(role, permissions.TO_MANAGE_RUNTIME_TOKENS),
        "can_delete": not environment.is_protected
        and has_role(role, permissions.TO_MANAGE_ENVIRONMENTS),
    }


def _rows_context(
    environment: Environment,
    *,
    include_bindings: bool,
    variable_form: forms.VariableForm | None,
    binding_form: forms.BindingForm | None,
) -> Context:
    """The variables and bindings sections: preview rows, the keys that cannot be decrypted."""
    rows = selectors.variable_rows([environment], include_bindings=include_bindings)
    broken = [r for r in rows if r.undecryptable]
    return {
        "variables": [r for r in rows if r.source == "env"],
        "bindings": [r for r in rows if r.source == "binding"],
        "undecryptable_variables": [r.key for r in broken if r.source == "env"],
        "undecryptable_bindings": [r.key for r in broken if r.source == "binding"],
        "variable_form": variable_form or forms.VariableForm(),
        "binding_form": binding_form
        or forms.BindingForm(deployment_name=environment.deployment.name),
    }


def _domains_context(environment: Environment, domain_form: forms.DomainForm | None) -> Context:
    domains = selectors.domains(environment)
    suggestion = selectors.domain_suggestion(environment, domains)
    return {
        "domains": domains,
        "suggested_hostname": suggestion,
        "domain_form": domain_form or forms.DomainForm(initial={"hostname": suggestion}),
    }


def _tokens_context(environment: Environment, token_form: forms.RuntimeTokenForm | None) -> Context:
    return {
        "tokens": selectors.runtime_tokens(environment),
        "token_form": token_form or forms.RuntimeTokenForm(environment_name=environment.name),
    }


def _summary_context(
    environment: Environment,
    *,
    can_set_target: bool,
    promotion_form: forms.PromotionTargetForm | None,
) -> Context:
    target = environment.promotes_to
    if promotion_form is None and can_set_target:
        promotion_form = forms.PromotionTargetForm(
            environment_names=list(_other_environments(environment)),
            initial={"promotes_to": target.name if target else ""},
        )
    return {"target_environment": target, "promotion_form": promotion_form}


def _environment_page(
    request: HttpRequest,
    environment: Environment,
    *,
    section: str | None = None,
    status: int = 200,
    notice: str = "",
    error: str = "",
    adding: bool = False,
    editing: str | int | None = None,  # the variable key or binding id being edited
    deleting: str | int | None = None,  # the variable key, binding or domain id being deleted
    edit_form: forms.VariableEditForm | forms.BindingEditForm | None = None,
    variable_form: forms.VariableForm | None = None,
    binding_form: forms.BindingForm | None = None,
    domain_form: forms.DomainForm | None = None,
    token_form: forms.RuntimeTokenForm | None = None,
    promotion_form: forms.PromotionTargetForm | None = None,
    new_token: RuntimeToken | None = None,
    raw_token: str = "",  # shown once, in this response only
    row: selectors.VariableRow | None = None,
    revealed_key: str = "",
    revealed_value: str | None = None,
) -> HttpResponse:
    """The environment page, or one of its sections when htmx asked for it.

    Besides its rows, a section shows the key being edited or deleted, bound forms with their
    errors, a notice, a token shown once, a revealed value.
    """
    full = not request.htmx or section is None
    allowed = _environment_permissions(environment, refused_target=promotion_form is not None)
    context = (
        _environment_tabs(environment)
        | allowed
        | {
            "tab": "environment",
            "section": section,
            # Reversed once here, not once per row: a page of 500 variables would otherwise
            # reverse thousands of URLs (variable URLs are these plus `<key>/edit/` and so on).
            "environment_url": _env_url(environment),
            "variables_url": _env_url(environment, "variables"),
            "notice": notice,
            "error": error,
            "adding": adding,
            "editing": editing,
            "deleting": deleting,
            "edit_form": edit_form,
            "new_token": new_token,
            "raw_token": raw_token,
            "row": row,
            "revealed_key": revealed_key,
            "revealed_value": revealed_value,
        }
    )
    if full or section in ("variables", "bindings"):
        context |= _rows_context(
            environment,
            include_bindings=section != "variables",
            variable_form=variable_form,
            binding_form=binding_form,
        )
        rows_editing = [r for r in context["variables"] if r.key == editing]
        if isinstance(edit_form, forms.VariableEditForm) and any(r.is_secret for r in rows_editing):
            edit_form.withhold_value()  # a secret's typed value is never given back
    if full or section == "domains":
        context |= _domains_context(environment, domain_form)
    if full or section == "tokens":
        context |= _tokens_context(environment, token_form)
    if full or section == "summary":
        context |= _summary_context(
            environment, can_set_target=allowed["can_set_target"], promotion_form=promotion_form
        )
    template = _page(request, "environments/environment.html", section)
    return render(request, template, context, status=status)


@no_store
@require_GET
@login_required
def environment_detail(request: HttpRequest, deployment_id: int, name: str) -> HttpResponse:
    environment = selectors.get_environment_for_user(request.user, deployment_id, name)
    return _environment_page(request, environment)


def _other_environments(environment: Environment) -> dict[str, Environment]:
    return {
        e.name: e
        for e in selectors.environments_in_order(environment.deployment)
        if e.pk != environment.pk
    }


@no_store
@require_POST
@login_required
def promotion_target(request: HttpRequest, deployment_id: int, name: str) -> HttpResponse:
    """Change which environment this one promotes to (or none)."""
    environment = selectors.get_environment_for_user(
        request.user, deployment_id, name, need=permissions.to_deploy_into
    )
    others = _other_environments(environment)
    form = forms.PromotionTargetForm(request.POST, environment_names=list(others))
    status = 400
    if form.is_valid():
        target = others.get(form.cleaned_data["promotes_to"])
        try:
            services.set_promotion_target(
                environment=environment, promotes_to=target, actor=Actor.from_request(request)
            )
        except ServiceError as exc:
            forms.add_service_error(form, exc)
            status = _status(exc)
        else:
            notice = (
                f"{environment.name} now promotes to {target.name}."
                if target
                else f"{environment.name} now promotes nowhere: it ends its pipeline."
            )
            environment = selectors.get_environment_for_user(request.user, deployment_id, name)
            return _after_write(request, environment, "summary", notice)
    return _environment_page(
        request, environment, section="summary", status=status, promotion_form=form
    )


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def environment_create(request: HttpRequest, deployment_id: int) -> HttpResponse:
    deployment = selectors.get_deployment_for_user(
        request.user, deployment_id, need=permissions.TO_MANAGE_ENVIRONMENTS
    )
    environments = {e.name: e for e in selectors.environments_in_order(deployment)}
    # A copy holds the source's secrets: copying needs the role that may write them.
    copyable = [
        e.name
        for e in environments.values()
        if has_role(deployment.role, permissions.to_write_variables(e))
    ]
    form = forms.EnvironmentForm(
        request.POST or None, environment_names=list(environments), copyable=copyable
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            copy_from = environments.get(data["copy_from"])
            if copy_from is not None and copy_from.name not in copyable:
                need = permissions.to_write_variables(copy_from)
                form.add_error(
                    "copy_from",
                    f"Copying {copy_from.name} needs the {need} role or higher: the copy "
                    f"would hold its secrets. You are {deployment.role}.",
                )
                status = 403
            else:
                try:
                    environment = services.create_environment(
                        deployment=deployment,
                        name=data["name"],
                        copy_from=copy_from,
                        promotes_to=environments.get(data["promotes_to"]),
                        actor=Actor.from_request(request),
                    )
                except ServiceError as exc:
                    forms.add_service_error(form, exc)
                    status = _status(exc)
                else:
                    messages.success(request, f"Created {environment.name}.")
                    return redirect(_env_url(environment))
    context = _deployment_tabs(deployment, deployment.role) | {"tab": "pipeline", "form": form}
    return render(request, "environments/environment_form.html", context, status=status)


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def environment_delete(request: HttpRequest, deployment_id: int, name: str) -> HttpResponse:
    environment = selectors.get_environment_for_user(
        request.user, deployment_id, name, need=permissions.TO_MANAGE_ENVIRONMENTS
    )
    if environment.is_protected:
        context = _environment_tabs(environment) | {"tab": "environment", "protected": True}
        return render(request, "environments/environment_delete.html", context, status=409)
    form = forms.ConfirmNameForm(request.POST or None, expected=environment.name, focus=True)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                services.delete_environment(
                    environment=environment, actor=Actor.from_request(request)
                )
            except ServiceError as exc:
                forms.add_service_error(form, exc)
                status = _status(exc)
            else:
                messages.success(request, f"Deleted {environment.name}.")
                return redirect(_deployment_url(environment.deployment))
    context = _environment_tabs(environment) | {
        "tab": "environment",
        "form": form,
        "counts": selectors.delete_counts(environment),
    }
    return render(request, "environments/environment_delete.html", context, status=status)


# History and rollback ------------------------------------------------------------------


def _history_page(
    request: HttpRequest,
    environment: Environment,
    *,
    notice: str = "",
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    may_roll_back = has_role(environment.role, permissions.to_deploy_into(environment))
    changes = selectors.history_rows(environment, may_roll_back=may_roll_back)
    context = _environment_tabs(environment) | {
        "tab": "history",
        "changes": changes,
        "notice": notice,
        "error": error,
    }
    template = _page(request, "environments/environment_history.html", "history")
    return render(request, template, context, status=status)


@no_store
@require_GET
@login_required
def environment_history(request: HttpRequest, deployment_id: int, name: str) -> HttpResponse:
    environment = selectors.get_environment_for_user(request.user, deployment_id, name)
    return _history_page(request, environment)


@no_store
@require_POST
@login_required
def rollback(request: HttpRequest, deployment_id: int, name: str) -> HttpResponse:
    environment = selectors.get_environment_for_user(
        request.user, deployment_id, name, need=permissions.to_deploy_into
    )
    form = forms.RollbackForm(request.POST)
    version = None
    if form.is_valid():
        version = selectors.find_version(environment.deployment, form.cleaned_data["version"])
    if version is None:
        return _history_page(request, environment, error="There is no such version.", status=400)
    unconfirmed = _unconfirmed(
        request,
        question=f"Roll {environment.name} back to v{version.number}?",
        detail=f"It will run v{version.number} again; its variables stay as they are.",
        label=f"Roll back to v{version.number}",
        cancel_url=_env_url(environment, "environment_history"),
    )
    if unconfirmed:
        return unconfirmed
    try:
        services.rollback(
            environment=environment, version=version, actor=Actor.from_request(request)
        )
    except ServiceError as exc:
        return _history_page(request, environment, error=exc.message, status=_status(exc))
    notice = f"{environment.name} rolled back to v{version.number}."
    environment = selectors.get_environment_for_user(request.user, deployment_id, name)
    if request.htmx:
        return _history_page(request, environment, notice=notice)
    messages.success(request, notice)
    return redirect(_env_url(environment, "environment_history"))


# Variables -------------------------------------------------------------------------------


def _writable(request: HttpRequest, deployment_id: int, name: str) -> Environment:
    return selectors.get_environment_for_user(
        request.user, deployment_id, name, need=permissions.to_write_variables
    )


def _after_write(
    request: HttpRequest, environment: Environment, section: str, notice: str
) -> HttpResponse:
    if request.htmx:
        return _environment_page(request, environment, section=section, notice=notice)
    messages.success(request, notice)
    return redirect(_env_url(environment) + f"#{section}")


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def variables(request: HttpRequest, deployment_id: int, name: str) -> HttpResponse:
    """GET: the variables section (htmx cancels land here). POST: add a variable; an existing
    key is refused (409), so an Add never silently replaces a value: Edit does that."""
    if request.method == "GET":
        environment = selectors.get_environment_for_user(request.user, deployment_id, name)
        return _environment_page(request, environment, section="variables")
    environment = _writable(request, deployment_id, name)
    form = forms.VariableForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.set_variable(
                environment=environment,
                key=data["key"],
                value=data["value"],
                is_secret=True if data["is_secret"] else None,
                actor=Actor.from_request(request),
                create_only=True,
            )
        except ServiceError as exc:
            forms.add_service_error(form, exc)
            status = _status(exc)
        else:
            return _after_write(request, environment, "variables", f"Added {data['key']}.")
    else:
        status = 400
    return _environment_page(
        request, environment, section="variables", status=status, variable_form=form, adding=True
    )


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def variable_edit(request: HttpRequest, deployment_id: int, name: str, key: str) -> HttpResponse:
    environment = _writable(request, deployment_id, name)
    variable = selectors.get_variable(environment, key)
    form = forms.VariableEditForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            value, make_secret = form.cleaned_data["value"], form.cleaned_data["make_secret"]
            actor = Actor.from_request(request)
            try:
                if value:
                    services.set_variable(
                        environment=environment,
                        key=key,
                        value=value,
                        is_secret=True if make_secret else None,
                        actor=actor,
                    )
                elif make_secret and not variable.is_secret:
                    services.update_variable_metadata(
                        environment=environment, key=key, is_secret=True, actor=actor
                    )
            except ServiceError as exc:
                forms.add_service_error(form, exc)
                status = _status(exc)
            else:
                notice = f"Updated {key}." if value or make_secret else f"{key} is unchanged."
                return _after_write(request, environment, "variables", notice)
    return _environment_page(
        request, environment, section="variables", status=status, editing=key, edit_form=form
    )


@no_store
@require_POST
@login_required
def variable_reveal(request: HttpRequest, deployment_id: int, name: str, key: str) -> HttpResponse:
    """Show one plain variable's whole value to an admin. Secrets and bindings are never shown.

    The reveal is audited before the value is decrypted, in one transaction: if the event
    cannot be written, the request fails and nothing is decrypted (fail-closed).
    """
    environment = selectors.get_environment_for_user(
        request.user, deployment_id, name, need=permissions.TO_REVEAL
    )
    variable = Variable.objects.filter(environment=environment, key=key).first()
    if variable is None:
        raise Http404(f"{environment.name} has no variable {key}.")
    if variable.is_secret:
        error = f"{key} is a secret: its value is write-only and is never shown again."
        response = _environment_page(
            request, environment, section="variables", status=409, error=error
        )
        # The Reveal button targets its row; a refusal replaces the whole section instead.
        return reswap(retarget(response, "#variables"), "outerHTML") if request.htmx else response
    value: str | None
    actor = Actor.from_request(request)
    try:
        with transaction.atomic():
            services.record_reveal(
                environment=environment,
                deployment=environment.deployment,
                keys=[key],
                actor=actor,
            )
            values = selectors.reveal_plain_values([environment], key=key)
            if (environment.name, key) not in values:  # deleted meanwhile
                raise Http404(f"{environment.name} has no variable {key}.")
            value = values[(environment.name, key)]
    except crypto.DecryptionError:
        value = None
        with transaction.atomic():  # the attempt stays on record, as a failure
            services.record_reveal(
                environment=environment,
                deployment=environment.deployment,
                keys=[key],
                actor=actor,
                outcome="failure",
            )
    revealed = {"revealed_key": key, "revealed_value": value}
    if request.htmx:
        rows = selectors.variable_rows([environment], include_bindings=False)
        row = next(r for r in rows if r.key == key)
        response = _environment_page(
            request, environment, section="variable_row", row=row, **revealed
        )
    else:
        response = _environment_page(request, environment, **revealed)
    response["Cache-Control"] = "no-store"
    return response


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def variable_delete(request: HttpRequest, deployment_id: int, name: str, key: str) -> HttpResponse:
    environment = _writable(request, deployment_id, name)
    selectors.get_variable(environment, key)
    if request.method == "GET":
        return _environment_page(request, environment, section="variables", deleting=key)
    try:
        services.delete_variable(
            environment=environment, key=key, actor=Actor.from_request(request)
        )
    except ServiceError as exc:
        return _environment_page(
            request, environment, section="variables", status=_status(exc), error=exc.message
        )
    return _after_write(request, environment, "variables", f"Deleted {key}.")


# Bindings --------------------------------------------------------------------------------


def _managing(request: HttpRequest, deployment_id: int, name: str, need: str) -> Environment:
    return selectors.get_environment_for_user(request.user, deployment_id, name, need=need)


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def bindings(request: HttpRequest, deployment_id: int, name: str) -> HttpResponse:
    if request.method == "GET":
        environment = selectors.get_environment_for_user(request.user, deployment_id, name)
        return _environment_page(request, environment, section="bindings")
    environment = _managing(request, deployment_id, name, permissions.TO_MANAGE_BINDINGS)
    form = forms.BindingForm(request.POST, deployment_name=environment.deployment.name)
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        try:
            binding = services.create_binding(
                environment=environment,
                kind=data["kind"],
                name=data["name"],
                url=data["url"],
                variable_name=data["variable_name"],
                actor=Actor.from_request(request),
            )
        except ServiceError as exc:
            forms.add_service_error(form, exc)
            status = _status(exc)
        else:
            notice = f"Bound {binding.name} as {binding.variable_name}."
            return _after_write(request, environment, "bindings", notice)
    # A refused credential is not sent back: the URL field starts empty again.
    form.data = form.data.copy()
    form.data["url"] = ""
    return _environment_page(
        request, environment, section="bindings", status=status, binding_form=form, adding=True
    )


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def binding_edit(request: HttpRequest, deployment_id: int, name: str, pk: int) -> HttpResponse:
    environment = _managing(request, deployment_id, name, permissions.TO_MANAGE_BINDINGS)
    binding = selectors.get_binding(environment, pk)
    form = forms.BindingEditForm(
        request.POST or None,
        kind=binding.kind,
        initial={"name": binding.name, "variable_name": binding.variable_name},
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                binding = services.update_binding(
                    binding=binding,
                    url=data["url"],
                    name=data["name"],
                    variable_name=data["variable_name"],
                    actor=Actor.from_request(request),
                )
            except ServiceError as exc:
                forms.add_service_error(form, exc)
                status = _status(exc)
            else:
                notice = f"Updated {binding.name}." + (
                    " The credential was replaced." if data["url"] else ""
                )
                return _after_write(request, environment, "bindings", notice)
        form.data = form.data.copy()
        form.data["url"] = ""
    return _environment_page(
        request, environment, section="bindings", status=status, editing=pk, edit_form=form
    )


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def binding_delete(request: HttpRequest, deployment_id: int, name: str, pk: int) -> HttpResponse:
    environment = _managing(request, deployment_id, name, permissions.TO_MANAGE_BINDINGS)
    binding = selectors.get_binding(environment, pk)
    if request.method == "GET":
        return _environment_page(request, environment, section="bindings", deleting=pk)
    services.delete_binding(binding=binding, actor=Actor.from_request(request))
    return _after_write(
        request, environment, "bindings", f"Removed {binding.name} ({binding.variable_name})."
    )


# Domains ---------------------------------------------------------------------------------


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def domains(request: HttpRequest, deployment_id: int, name: str) -> HttpResponse:
    if request.method == "GET":
        environment = selectors.get_environment_for_user(request.user, deployment_id, name)
        return _environment_page(request, environment, section="domains")
    environment = _managing(request, deployment_id, name, permissions.TO_MANAGE_DOMAINS)
    form = forms.DomainForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            domain = services.add_domain(
                environment=environment,
                hostname=form.cleaned_data["hostname"],
                actor=Actor.from_request(request),
                visible_deployment_ids=selectors.visible_deployment_ids(request.user),
            )
        except ServiceError as exc:
            forms.add_service_error(form, exc)
            status = _status(exc)
        else:
            return _after_write(request, environment, "domains", f"Added {domain.hostname}.")
    return _environment_page(
        request, environment, section="domains", status=status, domain_form=form
    )


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def domain_delete(request: HttpRequest, deployment_id: int, name: str, pk: int) -> HttpResponse:
    environment = _managing(request, deployment_id, name, permissions.TO_MANAGE_DOMAINS)
    domain = selectors.get_domain(environment, pk)
    if request.method == "GET":
        return _environment_page(request, environment, section="domains", deleting=pk)
    services.remove_domain(domain=domain, actor=Actor.from_request(request))
    return _after_write(request, environment, "domains", f"Removed {domain.hostname}.")


# Runtime tokens --------------------------------------------------------------------------


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def runtime_tokens(request: HttpRequest, deployment_id: int, name: str) -> HttpResponse:
    if request.method == "GET":
        environment = selectors.get_environment_for_user(request.user, deployment_id, name)
        return _environment_page(request, environment, section="tokens")
    environment = _managing(request, deployment_id, name, permissions.TO_MANAGE_RUNTIME_TOKENS)
    form = forms.RuntimeTokenForm(request.POST, environment_name=environment.name)
    if not form.is_valid():
        return _environment_page(
            request, environment, section="tokens", status=400, token_form=form
        )
    token, raw = services.create_runtime_token(
        environment=environment, name=form.cleaned_data["name"], actor=Actor.from_request(request)
    )
    # The raw token is rendered into this one response and stored nowhere: no redirect.
    response = _environment_page(
        request, environment, section="tokens", new_token=token, raw_token=raw
    )
    response["Cache-Control"] = "no-store"
    return response


@no_store
@require_POST
@login_required
def runtime_token_revoke(
    request: HttpRequest, deployment_id: int, name: str, pk: int
) -> HttpResponse:
    environment = _managing(request, deployment_id, name, permissions.TO_MANAGE_RUNTIME_TOKENS)
    token = selectors.get_runtime_token(environment, pk)
    unconfirmed = _unconfirmed(
        request,
        question=f"Revoke {token.name}?",
        detail="Instances using this token can no longer fetch their environment at boot.",
        label="Revoke",
        cancel_url=_env_url(environment),
    )
    if unconfirmed:
        return unconfirmed
    services.revoke_runtime_token(token=token, actor=Actor.from_request(request))
    return _after_write(request, environment, "tokens", f"Revoked {token.name}.")


# Compare, audit --------------------------------------------------------------------------


@no_store
@require_GET
@login_required
def compare(request: HttpRequest, deployment_id: int) -> HttpResponse:
    deployment = selectors.get_deployment_for_user(request.user, deployment_id)
    environments = {e.name: e for e in selectors.environments_in_order(deployment)}
    names = list(environments)
    initial = {"left": "staging", "right": "production"}
    form = forms.CompareForm(request.GET or initial, environment_names=names)
    comparison = None
    if form.is_valid():
        left = environments[form.cleaned_data["left"]]
        right = environments[form.cleaned_data["right"]]
        left.deployment = right.deployment = deployment
        comparison = _compared(request, left, right, role=deployment.role)
    context = _deployment_tabs(deployment, deployment.role) | {
        "tab": "compare",
        "form": form,
        "comparison": comparison,
    }
    status = 200 if form.is_valid() or not request.GET else 400
    return render(request, "environments/compare.html", context, status=status)


AUDIT_PAGE = 100


@no_store
@require_GET
@login_required
def audit_log(request: HttpRequest, deployment_id: int) -> HttpResponse:
    deployment = selectors.get_deployment_for_user(
        request.user, deployment_id, need=permissions.TO_READ_AUDIT
    )
    actions = selectors.audit_actions(deployment)
    names = [e.name for e in selectors.environments_in_order(deployment)]
    form = forms.AuditFilterForm(request.GET or None, actions=actions, environment_names=names)
    filters = form.cleaned_data if form.is_valid() else {}
    events = selectors.audit_events(
        deployment,
        action=filters.get("action", ""),
        environment=filters.get("environment", ""),
        actor=filters.get("actor", ""),
        before=filters.get("before"),
        limit=AUDIT_PAGE + 1,
    )
    older_url = ""
    if len(events) > AUDIT_PAGE:
        events = events[:AUDIT_PAGE]
        query = request.GET.copy()
        query["before"] = events[-1].pk
        older_url = f"{request.path}?{query.urlencode()}"
    context = _deployment_tabs(deployment, deployment.role) | {
        "tab": "audit",
        "form": form,
        "events": events,
        "older_url": older_url,
        "paged": bool(filters.get("before")),
        "filtered": any(v for k, v in filters.items() if k != "before"),
    }
    return render(request, _page(request, "environments/audit_log.html", "events"), context)


# Members ---------------------------------------------------------------------------------


def _members_page(
    request: HttpRequest,
    deployment: Deployment,
    *,
    form: forms.MemberForm | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    context = _deployment_tabs(deployment, deployment.role) | {
        "tab": "members",
        "memberships": selectors.members(deployment),
        "form": form or forms.MemberForm(),
        "roles": Role.choices,
        "error": error,
    }
    return render(request, "environments/members.html", context, status=status)


def _owner_of(request: HttpRequest, deployment_id: int) -> Deployment:
    return selectors.get_deployment_for_user(
        request.user, deployment_id, need=permissions.TO_MANAGE_MEMBERS
    )


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def members(request: HttpRequest, deployment_id: int) -> HttpResponse:
    deployment = _owner_of(request, deployment_id)
    if request.method == "GET":
        return _members_page(request, deployment)
    form = forms.MemberForm(request.POST)
    status = 400
    if form.is_valid():
        user = selectors.find_user(form.cleaned_data["username"])
        if user is None:
            form.add_error("username", "There is no user with this username.")
        elif selectors.is_member(deployment, user):
            form.add_error("username", f"{user.get_username()} is already a member.")
            status = 409
        else:
            services.set_member(
                deployment=deployment,
                user=user,
                role=form.cleaned_data["role"],
                actor=Actor.from_request(request),
            )
            messages.success(
                request, f"Added {user.get_username()} as {form.cleaned_data['role']}."
            )
            return redirect(_deployment_url(deployment, "members"))
    return _members_page(request, deployment, form=form, status=status)


@no_store
@require_POST
@login_required
def member_role(request: HttpRequest, deployment_id: int, user_id: int) -> HttpResponse:
    deployment = _owner_of(request, deployment_id)
    membership = selectors.get_membership(deployment, user_id)
    form = forms.RoleForm(request.POST)
    if not form.is_valid():
        return _members_page(request, deployment, error="Pick a role.", status=400)
    try:
        services.set_member(
            deployment=deployment,
            user=membership.user,
            role=form.cleaned_data["role"],
            actor=Actor.from_request(request),
        )
    except ServiceError as exc:
        return _members_page(request, deployment, error=exc.message, status=_status(exc))
    messages.success(
        request, f"{membership.user.get_username()} is now {form.cleaned_data['role']}."
    )
    return redirect(_deployment_url(deployment, "members"))


@no_store
@require_POST
@login_required
def member_remove(request: HttpRequest, deployment_id: int, user_id: int) -> HttpResponse:
    deployment = _owner_of(request, deployment_id)
    membership = selectors.get_membership(deployment, user_id)
    unconfirmed = _unconfirmed(
        request,
        question=f"Remove {membership.user.get_username()} from {deployment.name}?",
        label="Remove",
        cancel_url=_deployment_url(deployment, "members"),
    )
    if unconfirmed:
        return unconfirmed
    try:
        services.remove_member(
            deployment=deployment, user=membership.user, actor=Actor.from_request(request)
        )
    except ServiceError as exc:
        return _members_page(request, deployment, error=exc.message, status=_status(exc))
    messages.success(request, f"Removed {membership.user.get_username()}.")
    if membership.user_id == request.user.pk and not request.user.is_superuser:
        return redirect("deployment_list")
    return redirect(_deployment_url(deployment, "members"))


# Deployment settings ---------------------------------------------------------------------


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def deployment_settings(request: HttpRequest, deployment_id: int) -> HttpResponse:
    deployment = selectors.get_deployment_for_user(
        request.user, deployment_id, need=permissions.TO_MANAGE_DOMAINS
    )
    form = forms.ApexForm(request.POST or None, initial={"apex_domain": deployment.apex_domain})
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                result = services.set_apex_domain(
                    deployment=deployment,
                    apex=form.cleaned_data["apex_domain"],
                    actor=Actor.from_request(request),
                    visible_deployment_ids=selectors.visible_deployment_ids(request.user),
                )
            except ServiceError as exc:
                forms.add_service_error(form, exc)
                status = _status(exc)
            else:
                messages.success(request, _apex_message(result))
                return redirect(_deployment_url(deployment, "deployment_settings"))
    environments = selectors.pipeline_environments(deployment)
    suggestions = selectors.apex_suggestions(deployment, environments)
    context = _deployment_tabs(deployment, deployment.role) | {
        "tab": "settings",
        "form": form,
        "suggestions": suggestions,
        "delete_form": forms.ConfirmNameForm(expected=deployment.name),
        "can_delete_deployment": has_role(deployment.role, permissions.TO_DELETE_DEPLOYMENT),
    }
    return render(request, "environments/deployment_settings.html", context, status=status)


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
def deployment_delete(request: HttpRequest, deployment_id: int) -> HttpResponse:
    deployment = selectors.get_deployment_for_user(
        request.user, deployment_id, need=permissions.TO_DELETE_DEPLOYMENT
    )
    form = forms.ConfirmNameForm(request.POST, expected=deployment.name)
    if not form.is_valid():
        messages.error(request, form.errors["confirm_name"][0])
        return redirect(_deployment_url(deployment, "deployment_settings"))
    services.delete_deployment(deployment=deployment, actor=Actor.from_request(request))
    messages.success(request, f"Deleted {deployment.name}.")
    return redirect("deployment_list")


# Personal API tokens ---------------------------------------------------------------------


def _api_tokens_page(
    request: HttpRequest,
    *,
    form: forms.ApiTokenForm | None = None,
    status: int = 200,
    notice: str = "",
    new_token: ApiToken | None = None,
    raw_token: str = "",  # shown once, in this response only
) -> HttpResponse:
    context = {
        "tokens": selectors.api_tokens(request.user),
        "form": form or forms.ApiTokenForm(),
        "notice": notice,
        "new_token": new_token,
        "raw_token": raw_token,
    }
    template = _page(request, "environments/api_tokens.html", "tokens")
    return render(request, template, context, status=status)


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def api_tokens(request: HttpRequest) -> HttpResponse:
    """The logged-in user's personal API tokens, for the JSON API."""
    if request.method == "GET":
        return _api_tokens_page(request)
    form = forms.ApiTokenForm(request.POST)
    if not form.is_valid():
        return _api_tokens_page(request, form=form, status=400)
    token, raw = services.create_api_token(
        user=request.user, name=form.cleaned_data["name"], actor=Actor.from_request(request)
    )
    # The raw token is rendered into this one response and stored nowhere: no redirect.
    response = _api_tokens_page(request, new_token=token, raw_token=raw)
    response["Cache-Control"] = "no-store"
    return response


@no_store
@require_POST
@login_required
def api_token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = selectors.get_api_token(request.user, pk)
    unconfirmed = _unconfirmed(
        request,
        question=f"Revoke {token.name}?",
        detail="Scripts and CI jobs using this token can no longer call the API.",
        label="Revoke",
        cancel_url=reverse("api_tokens"),
    )
    if unconfirmed:
        return unconfirmed
    services.revoke_api_token(token=token, actor=Actor.from_request(request))
    notice = f"Revoked {token.name}."
    if request.htmx:
        return _api_tokens_page(request, notice=notice)
    messages.success(request, notice)
    return redirect("api_tokens")
