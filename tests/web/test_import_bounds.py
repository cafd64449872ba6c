"""The environment page's import refuses a file with more keys than an environment may hold
while reading it (issue 18), before any query about variables."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from environments import rules
from environments.models import AuditEvent, Role, Variable

from .conftest import HX

LIMIT = rules.MAX_KEYS_PER_ENVIRONMENT
HUGE_DOTENV = "".join(f"K{n:x}=\n" for n in range(116_000))


def _touches_variables(queries: CaptureQueriesContext) -> list[str]:
    table = Variable._meta.db_table
    return [q["sql"] for q in queries.captured_queries if table in q["sql"]]


def test_the_web_preview_of_a_116000_line_upload_is_413_before_any_variable_query(as_role, staging):
    client = as_role(Role.DEVELOPER)
    url = reverse("variable_import", args=[staging.deployment_id, staging.name])
    with CaptureQueriesContext(connection) as baseline:  # refused by the parser, line 1
        assert client.post(url, {"text": "not a line\n"}, **HX).status_code == 400
    upload = SimpleUploadedFile(".env", HUGE_DOTENV.encode(), content_type="text/plain")
    with CaptureQueriesContext(connection) as queries:
        response = client.post(url, {"file": upload}, **HX)
    assert response.status_code == 413
    assert f"more than {LIMIT} variables" in response.content.decode()
    assert _touches_variables(queries) == []
    assert len(queries) <= len(baseline)
    assert not AuditEvent.objects.filter(action__startswith="variable.import").exists()
