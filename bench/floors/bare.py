"""The bare floor: a Django JSON view with no middleware and no database, serving the same
payload as the runtime endpoint (read once, at start, from BENCH_FLOOR_PAYLOAD: a JSON file).

    gunicorn -c gunicorn.conf.py bench.floors.bare:application
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from bench.floors import configure

configure(__name__, database=False)

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402

PAYLOAD = json.loads(Path(os.environ["BENCH_FLOOR_PAYLOAD"]).read_text())


def fetch(request):
    response = HttpResponse(
        json.dumps(PAYLOAD, ensure_ascii=False), content_type="application/json"
    )
    response["Cache-Control"] = "no-store"
    return response


urlpatterns = [path("api/v1/runtime/env", fetch)]
application = get_wsgi_application()
