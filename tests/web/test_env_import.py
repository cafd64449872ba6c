"""The environment page's "Import .env" section: paste or upload, the dry run's diff first (key
names only), then the confirmation writes; with htmx and without JavaScript."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from environments import services
from environments.models import AuditEvent, Role, Variable
from environments.web.env_import import SESSION_KEY
from tests.conftest import CANARY
from tests.runtime import runtime_env

from .conftest import HX

FILE = f"API_URL=https://api.example.com\nSTRIPE_KEY={CANARY}\nexport DEBUG='false'\n"


def _import_url(environment) -> str:
    return reverse(
        "variable_import",
        kwargs={"deployment_id": environment.deployment_id, "name": environment.name},
    )


def _preview_id(body: str) -> str:
    return re.search(r'name="preview_id" value="([^"]+)"', body).group(1)


def _section(response) -> str:
    return response.content.decode()


@pytest.mark.parametrize("headers", [{}, HX], ids=["no-js", "htmx"])
def test_a_preview_shows_the_diff_by_name_then_the_confirmation_imports(
    as_role, staging, actor, headers
):
    services.set_variable(
        environment=staging, key="DEBUG", value="false", is_secret=None, actor=actor
    )
    client = as_role(Role.DEVELOPER)
    url = _import_url(staging)
    preview = client.post(url, {"text": FILE, "secret_keys": "STRIPE_KEY"}, **headers)
    assert preview.status_code == 200
    body = _section(preview)
    assert 'data-testid="import-diff"' in body
    assert "Added (2):" in body and "Unchanged (1):" in body
    assert "Import 3 variables" in body
    assert CANARY not in body and "https://api.example.com" not in body
    assert not Variable.objects.filter(environment=staging, key="API_URL").exists()
    if headers:
        assert "<html" not in body  # the section alone
    done = client.post(url, {"confirm": "yes", "preview_id": _preview_id(body)}, **headers)
    if headers:
        # Issue 21 item 1: the page's content is swapped in place with the result (it was an
        # HX-Redirect to the same URL, which the browser only scrolled).
        assert done.status_code == 200 and "HX-Redirect" not in done
        assert (done["HX-Retarget"], done["HX-Reselect"]) == ("#main", "#main")
        assert done["HX-Reswap"] == "outerHTML show:#variables:top"
        page = done
    else:
        assert done.status_code == 302 and done["Location"].endswith("#variables")
        page = client.get(reverse("environment", args=[staging.deployment_id, "staging"]))
    env = runtime_env(staging)
    assert env["STRIPE_KEY"] == CANARY and env["API_URL"] == "https://api.example.com"
    assert Variable.objects.get(environment=staging, key="STRIPE_KEY").is_secret
    html = page.content.decode()
    assert "Imported 3 variables." in html
    assert 'id="var-STRIPE_KEY"' in html and 'id="var-API_URL"' in html
    assert CANARY not in html
    actions = list(
        AuditEvent.objects.filter(action__startswith="variable.import")
        .order_by("pk")
        .values_list("action", "detail")
    )
    assert [(a, d["dry_run"]) for a, d in actions] == [
        ("variable.import_preview", True),
        ("variable.import", False),
    ]


def test_the_preview_does_not_tell_whether_a_guess_of_a_secret_is_right(as_role, staging, actor):
    """Issue 18: the preview said "Unchanged: STRIPE_SECRET_KEY secret" for a right guess."""
    services.set_variable(
        environment=staging, key="STRIPE_SECRET_KEY", value=CANARY, is_secret=True, actor=actor
    )
    services.set_variable(environment=staging, key="PLAIN", value="p", is_secret=None, actor=actor)
    client = as_role(Role.DEVELOPER)
    url = _import_url(staging)
    diffs = []
    for guess in (CANARY, "sk_live_guess"):
        body = _section(client.post(url, {"text": f"STRIPE_SECRET_KEY={guess}\nPLAIN=p\n"}))
        diffs.append(re.search(r'<div data-testid="import-diff">.*?</div>', body, re.S).group(0))
        assert "Will be replaced (1):" in body and "STRIPE_SECRET_KEY" in body
        assert "Unchanged (1):" in body  # PLAIN, a plain variable, keeps same/changed
        assert "Import 2 variables" in body
        assert CANARY not in body
    assert diffs[0] == diffs[1]


def test_an_uploaded_file_is_previewed_like_a_pasted_one(as_role, staging):
    client = as_role(Role.DEVELOPER)
    upload = SimpleUploadedFile(".env", FILE.encode(), content_type="text/plain")
    response = client.post(_import_url(staging), {"file": upload})
    assert response.status_code == 200 and "Import 3 variables" in _section(response)


def test_a_pasted_file_with_crlf_keeps_multi_line_values_as_lf(as_role, staging):
    client = as_role(Role.DEVELOPER)
    url = _import_url(staging)
    preview = client.post(url, {"text": 'PEM="line one\r\nline two"\r\n'})
    client.post(url, {"confirm": "yes", "preview_id": _preview_id(_section(preview))})
    assert runtime_env(staging)["PEM"] == "line one\nline two"


@pytest.mark.parametrize("headers", [{}, HX], ids=["no-js", "htmx"])
def test_a_parse_error_names_the_line_and_the_file_is_not_sent_back(as_role, staging, headers):
    client = as_role(Role.DEVELOPER)
    text = f"A=1\nB=2\n{CANARY} not a line\n"
    response = client.post(_import_url(staging), {"text": text, "secret_keys": "B"}, **headers)
    assert response.status_code == 400
    body = _section(response)
    assert "Line 3 is not dotenv syntax" in body
    assert CANARY not in body
    textarea = re.search(r"<textarea[^>]*>(.*?)</textarea>", body, re.S).group(1)
    assert textarea.strip() == ""
    assert 'value="B"' in body  # the secret keys are names, kept
    assert not Variable.objects.filter(environment=staging).exists()
    assert SESSION_KEY not in client.session


def test_a_secret_value_over_the_limit_is_413_and_not_echoed(as_role, staging):
    response = as_role(Role.DEVELOPER).post(
        _import_url(staging), {"text": f"S={CANARY * 1100}\n", "secret_keys": "S"}
    )
    assert response.status_code == 413
    assert "Line 1 (S)" in _section(response) and CANARY not in _section(response)


def test_a_binding_key_is_409_in_the_preview(as_role, staging, actor):
    services.create_binding(
        environment=staging, kind="postgres", name="db", url="postgres://a:b@h/db", actor=actor
    )
    response = as_role(Role.DEVELOPER).post(_import_url(staging), {"text": "DATABASE_URL=x\n"})
    assert response.status_code == 409
    assert "binding" in _section(response)


def test_nothing_to_import_is_400(as_role, staging):
    response = as_role(Role.DEVELOPER).post(_import_url(staging), {"text": "  \n"})
    assert response.status_code == 400
    assert "Paste a .env file or choose one to upload." in _section(response)


def test_pasting_and_uploading_at_once_is_400(as_role, staging):
    upload = SimpleUploadedFile(".env", b"A=1\n")
    response = as_role(Role.DEVELOPER).post(_import_url(staging), {"text": "B=2", "file": upload})
    assert response.status_code == 400 and "not both" in _section(response)


def test_the_confirmation_carries_no_value(as_role, staging):
    client = as_role(Role.DEVELOPER)
    body = _section(client.post(_import_url(staging), {"text": FILE}))
    confirm = re.search(r'<form[^>]*class="actions".*?</form>', body, re.S).group(0)
    assert CANARY not in confirm and "api.example.com" not in confirm
    # What waits in the session for the confirmation is encrypted too.
    assert CANARY not in str(client.session[SESSION_KEY])


def test_only_the_latest_preview_can_be_confirmed(as_role, staging):
    client = as_role(Role.DEVELOPER)
    url = _import_url(staging)
    first = _preview_id(_section(client.post(url, {"text": "A=1\n"})))
    client.post(url, {"text": "B=2\n"})
    response = client.post(url, {"confirm": "yes", "preview_id": first})
    assert response.status_code == 409 and "no longer the latest" in _section(response)
    assert not Variable.objects.filter(environment=staging).exists()


def test_a_preview_cannot_be_confirmed_in_another_environment(as_role, staging, production):
    client = as_role(Role.OWNER)
    preview = _preview_id(_section(client.post(_import_url(staging), {"text": "A=1\n"})))
    response = client.post(_import_url(production), {"confirm": "yes", "preview_id": preview})
    assert response.status_code == 409
    assert not Variable.objects.exists()


def test_a_preview_is_confirmed_once(as_role, staging):
    client = as_role(Role.DEVELOPER)
    url = _import_url(staging)
    preview = _preview_id(_section(client.post(url, {"text": "A=1\n"})))
    client.post(url, {"confirm": "yes", "preview_id": preview})
    assert client.post(url, {"confirm": "yes", "preview_id": preview}).status_code == 409
    staging.refresh_from_db()
    assert AuditEvent.objects.filter(action="variable.import_preview").count() == 1
    assert AuditEvent.objects.filter(action="variable.import").count() == 1


def test_a_viewer_sees_no_import_section(as_role, staging):
    page = as_role(Role.VIEWER).get(reverse("environment", args=[staging.deployment_id, "staging"]))
    assert 'id="import"' not in page.content.decode()


def test_a_developer_sees_the_import_section_on_the_page(as_role, staging):
    page = as_role(Role.DEVELOPER).get(
        reverse("environment", args=[staging.deployment_id, "staging"])
    )
    body = page.content.decode()
    assert 'id="import"' in body and 'enctype="multipart/form-data"' in body
    assert "Preview import" in body


def test_cancel_returns_the_empty_form(as_role, staging):
    response = as_role(Role.DEVELOPER).get(_import_url(staging), **HX)
    assert response.status_code == 200 and "Preview import" in _section(response)


def test_an_upload_that_is_not_utf8_is_400(as_role, staging):
    upload = SimpleUploadedFile(".env", b"A=\xff\xfe\n")
    response = as_role(Role.DEVELOPER).post(_import_url(staging), {"file": upload})
    assert response.status_code == 400 and "not UTF-8" in _section(response)
