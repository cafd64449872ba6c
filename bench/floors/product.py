"""The product floor: the runtime fetch's own database work, and nothing else (issue 27).

A bare Django project (no middleware, no ORM, no apps) under the same gunicorn, against the
product's own tables in the same PostgreSQL, doing what a fetch does there, in raw SQL:

1. one statement: the token (by its SHA-256, unrevoked) with its environment, deployment,
   live release and version, and the release's encrypted values (its config entries alive at
   the release's revision);
2. each value decrypted with ChaCha20-Poly1305 under the app's keys and the entry's associated
   data (what the product does, from the same rows);
3. one statement in autocommit: lock the chain's head, move it (SHA-256 in SQL), insert the
   event into the product's audit table (its indexes and unique (chain, seq)), and upsert the
   instance's row (the product's table, its unique (environment, instance)); an event that
   cannot be written fails the request, and nothing leaves before it commits;
4. the same JSON (or, given the ETag it answered, a 304 with nothing decrypted).

Its events go to a chain of their own (`FLOOR_CHAIN`, seeded by bench/load.py), hashed as the
product hashes (content version 2: H(H(action, time) + H(rest))), so the two never interleave.

    gunicorn -c gunicorn.conf.py bench.floors.product:application
    (BENCH_FLOOR_DATABASE_URL: the product's database; ENCRYPTION_KEYS as the app's)
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from bench.floors import FLOOR_CHAIN, configure

configure(__name__)

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import connection  # noqa: E402
from django.http import HttpResponse, HttpResponseNotModified, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402

# ENCRYPTION_KEYS as the app reads it: "id:base64[,id:base64...]".
KEYS = {
    key_id: ChaCha20Poly1305(base64.b64decode(key))
    for key_id, key in (item.split(":", 1) for item in os.environ["ENCRYPTION_KEYS"].split(","))
}
ETAG_KEY = b"bench-floor-etag-key"  # the same in every worker, as the app's SECRET_KEY

TOKEN_AND_VALUES = """
SELECT t.name, e.id, e.name, d.id, d.name, r.number, r.config_revision, v.number,
       c.kind, c.key, c.set_revision, c.ciphertext
  FROM environments_runtimetoken t
  JOIN environments_environment e ON e.id = t.environment_id
  JOIN environments_deployment d ON d.id = e.deployment_id
  LEFT JOIN environments_release r ON r.id = e.live_release_id
  LEFT JOIN environments_version v ON v.id = r.version_id
  LEFT JOIN environments_configentry c
    ON %s AND c.environment_id = e.id AND c.kind <> 'domain'
   AND c.set_revision <= r.config_revision
   AND (c.end_revision IS NULL OR c.end_revision > r.config_revision)
 WHERE t.token_hash = %s AND t.revoked_at IS NULL
 ORDER BY c.key
"""

APPEND_AND_SEEN = """
WITH old AS (SELECT seq, hash FROM environments_auditchainhead WHERE chain = %s FOR UPDATE),
head AS (
    UPDATE environments_auditchainhead AS h
       SET seq = old.seq + 1, hash = encode(sha256(convert_to(old.hash || %s, 'UTF8')), 'hex')
      FROM old WHERE h.chain = %s
    RETURNING h.seq, h.hash, old.hash AS prev_hash
), seen AS (
    INSERT INTO environments_runtimeinstance AS s (environment_id, instance, token_name,
        release_number, version_number, config_revision, first_seen_at, last_seen_at)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (environment_id, instance) DO UPDATE
       SET token_name = EXCLUDED.token_name, release_number = EXCLUDED.release_number,
           version_number = EXCLUDED.version_number, config_revision = EXCLUDED.config_revision,
           last_seen_at = EXCLUDED.last_seen_at
)
INSERT INTO environments_auditevent (created_at, actor_id, actor_label, action, deployment_id,
    deployment_name, environment_name, target, ip, user_agent, outcome, detail, chain,
    content_hash, content_version, count, coalesce_key, coalesce_until, seq, prev_hash, hash)
SELECT %s, NULL, %s, 'runtime.fetch', %s, %s, %s, %s, %s, %s, 'success', %s, %s, %s, 2, 1, '',
       NULL, head.seq, head.prev_hash, head.hash
  FROM (VALUES (1)) AS one LEFT JOIN head ON TRUE
RETURNING id
"""


def _sha256(data: str) -> str:
    return hashlib.sha256(data.encode()).hexdigest()


def _decrypt(blob: bytes, associated: str) -> str:
    blob = bytes(blob)
    id_len = blob[1]
    key_id = blob[2 : 2 + id_len].decode("ascii")
    nonce, body = blob[2 + id_len : 14 + id_len], blob[14 + id_len :]
    return KEYS[key_id].decrypt(nonce, body, associated.encode()).decode()


def fetch(request):
    authorization = request.headers.get("Authorization", "")
    if not authorization.startswith("Bearer "):
        return JsonResponse({"error": {"code": "unauthorized"}}, status=401)
    token_hash = _sha256(authorization[7:])
    if_none_match = request.headers.get("If-None-Match", "")
    instance = request.headers.get("X-Miosa-Instance", "")
    with connection.cursor() as cursor:
        # A conditional fetch reads no values (a 304 decrypts nothing): the join's switch.
        cursor.execute(TOKEN_AND_VALUES, [not if_none_match, token_hash])
        rows = cursor.fetchall()
        if not rows:
            return JsonResponse({"error": {"code": "invalid_token"}}, status=401)
        token_name, env_id, env_name, dep_id, dep_name, release, revision, version = rows[0][:8]
        etag = '"{}"'.format(
            hmac.new(ETAG_KEY, f"{env_id}/{release}/{revision}/json".encode(), "sha256").hexdigest()
        )
        fresh = if_none_match == etag
        detail = {"format": "json", "release": release} | ({"not_modified": True} if fresh else {})
        now = dt.datetime.now(dt.UTC)
        ip = request.META.get("REMOTE_ADDR")
        target = instance
        lead = _sha256(json.dumps(["runtime.fetch", now.isoformat()]))
        rest = _sha256(
            json.dumps([token_name, dep_name, env_name, target, ip, "", "success", detail, None])
        )
        content_hash = _sha256(lead + rest)
        cursor.execute(
            APPEND_AND_SEEN,
            [
                *(FLOOR_CHAIN, content_hash, FLOOR_CHAIN),
                *(env_id, instance or token_name, token_name, release, version, revision),
                *(now, now),
                *(now, token_name, dep_id, dep_name, env_name, target, ip, ""),
                *(json.dumps(detail), FLOOR_CHAIN, content_hash),
            ],
        )
        if cursor.fetchone() is None:
            return JsonResponse({"error": {"code": "server_error"}}, status=500)
    if fresh:
        response = HttpResponseNotModified()
    else:
        env = {}
        for *_, kind, key, set_revision, blob in rows:
            if key is not None:
                env[key] = _decrypt(
                    blob, f"miosa/v1/entry/{dep_id}/{env_id}/{kind}/{key}/{set_revision}"
                )
        env |= {
            "MIOSA_DEPLOYMENT": dep_name,
            "MIOSA_ENVIRONMENT": env_name,
            "MIOSA_VERSION": str(version),
            "MIOSA_RELEASE": str(release),
        }
        body = {
            "deployment": dep_name,
            "environment": env_name,
            "version": version,
            "release": release,
            "config_revision": revision,
            "env": env,
        }
        response = HttpResponse(
            json.dumps(body, ensure_ascii=False).encode(), content_type="application/json"
        )
        response["Content-Length"] = str(len(response.content))
    response["ETag"] = etag
    response["Cache-Control"] = "no-store"
    return response


urlpatterns = [path("api/v1/runtime/env", fetch)]
application = get_wsgi_application()
