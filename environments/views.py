from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from . import selectors


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


@require_GET
@login_required
def deployment_list(request: HttpRequest) -> HttpResponse:
    deployments = selectors.deployments_for_user(request.user)
    for deployment in deployments:
        deployment.pipeline = selectors.pipeline_order(deployment.environments.all())
    return render(request, "environments/deployment_list.html", {"deployments": deployments})
