"""The audited floor: the least a correct, fail-closed runtime fetch can do on this stack.

A bare Django project (no middleware, no ORM, no apps) under the same gunicorn, against the same
PostgreSQL, with raw SQL on its own three tables (created and filled by bench/load.py):

1. look the token up by its SHA-256;
2. in one transaction, insert an audit row and select the environment's encrypted values
   (an audit row that cannot be written fails the request: nothing is decrypted);
3. decrypt each value with ChaCha20-Poly1305 (the associated data binds it to its key);
4. answer the same JSON as the runtime endpoint.

    gunicorn -c gunicorn.conf.py bench.floors.audited:application
    (BENCH_FLOOR_DATABASE_URL, BENCH_FLOOR_KEY: base64 of a 32-byte key)
"""

from __future__ import annotations

import base64
import hashlib
import json
import os

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from bench.floors import configure

configure(__name__)

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.http import HttpResponse, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402

AEAD = ChaCha20Poly1305(base64.b64decode(os.environ["BENCH_FLOOR_KEY"]))


def fetch(request):
    authorization = request.headers.get("Authorization", "")
    if not authorization.startswith("Bearer "):
        return JsonResponse({"error": {"code": "unauthorized"}}, status=401)
    token_hash = hashlib.sha256(authorization[7:].encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT environment_id, deployment, environment, version, release, revision"
            " FROM bench_floor_token WHERE token_hash = %s",
            [token_hash],
        )
        token = cursor.fetchone()
        if token is None:
            return JsonResponse({"error": {"code": "invalid_token"}}, status=401)
        environment_id, deployment, environment, version, release, revision = token
        with transaction.atomic():
            cursor.execute(
                "INSERT INTO bench_floor_audit (created_at, environment_id, action, ip)"
                " VALUES (now(), %s, 'runtime.fetch', %s)",
                [environment_id, request.META.get("REMOTE_ADDR")],
            )
            cursor.execute(
                "SELECT key, ciphertext FROM bench_floor_value WHERE environment_id = %s",
                [environment_id],
            )
            rows = cursor.fetchall()
    env = {}
    for key, blob in rows:
        blob = bytes(blob)
        env[key] = AEAD.decrypt(blob[:12], blob[12:], key.encode()).decode()
    env = dict(sorted(env.items()))
    env |= {
        "MIOSA_DEPLOYMENT": deployment,
        "MIOSA_ENVIRONMENT": environment,
        "MIOSA_VERSION": str(version),
        "MIOSA_RELEASE": str(release),
    }
    body = {
        "deployment": deployment,
        "environment": environment,
        "version": version,
        "release": release,
        "config_revision": revision,
        "env": env,
    }
    response = HttpResponse(json.dumps(body, ensure_ascii=False), content_type="application/json")
    response["Cache-Control"] = "no-store"
    return response


urlpatterns = [path("api/v1/runtime/env", fetch)]
application = get_wsgi_application()
