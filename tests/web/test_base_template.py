"""The base template loads htmx itself, in DEBUG too, without django-htmx's DEBUG helper."""

from django.urls import reverse

from environments.models import Role


def test_debug_mode_does_not_load_the_helper_that_swallows_form_errors(as_role, settings):
    # django-htmx's DEBUG script replaces the whole page with any 400 response (our form
    # errors, meant to be swapped in place) and calls eval(), which the CSP refuses.
    settings.DEBUG = True
    body = as_role(Role.OWNER).get(reverse("deployment_list")).content.decode()
    assert "django_htmx/htmx-2.min.js" in body
    assert "django-htmx.js" not in body
