"""Drivers for the servers data services live on (SPEC §13, §14): PostgreSQL, Redis and
S3-compatible buckets. Plain functions of an admin URL and a service's derived names; no Django.

Every step is idempotent (run twice, it creates nothing twice and does not fail) and fails with
`DataServerError(step, error_class)`, whose message names the step and the server's error class
and never holds a URL or a credential. `error.transient` says whether a retry may help.

Names come from a service key (our id or slug, never raw user input) through
`<kind>.Names.for_service(...)`: unique per service, quoted on the server, within PostgreSQL's
63-character limit (longer ones are shortened with a hash).

    postgres.Names.for_service(service_key, *, prefix="miosa")  # database, owner, login_a/_b
    postgres.service_url(admin_url, names, which, password) -> url
    postgres.check(admin_url) -> Health
    postgres.provision(admin_url, names, password, *, connection_limit=20, copy_from=None) -> url
    postgres.copy(admin_url, source, target) -> "template" | "dump" | "exists"
    postgres.enable_login(admin_url, names, which, password, *, connection_limit=20) -> url
    postgres.disable_login(admin_url, names, which) -> sessions ended
    postgres.destroy(admin_url, names)

    redis.Names.for_service(service_key, *, key_prefix="DEP:ENV:", prefix="miosa")
    redis.check(admin_url) -> Health
    redis.provision(admin_url, names, password) -> url
    redis.add_password(admin_url, names, password) -> url
    redis.remove_password(admin_url, names, password)
    redis.destroy(admin_url, names) -> keys removed

    bucket.Names.for_service(service_key, *, prefix="miosa")  # bucket, IAM user
    bucket.check(admin_url) -> Health
    bucket.provision(admin_url, names) -> url
    bucket.create_access_key(admin_url, names) -> (key id, url)
    bucket.access_keys(admin_url, names) -> key ids
    bucket.delete_access_key(admin_url, names, key_id)
    bucket.destroy(admin_url, names)

URLs (`core.parse_url`, `core.build_url`): `postgres://USER:PASSWORD@HOST:PORT/DB`,
`redis://USER:PASSWORD@HOST:PORT/0`, `s3://ACCESS_KEY:SECRET_KEY@HOST:PORT/BUCKET` (the admin
URL without the bucket; `?secure=false` for plain HTTP). A user or password holding `@`, `/` or
`?` must be percent-encoded; an ambiguous URL is refused. Passwords: `core.new_password()`;
generate one before the first attempt and keep it, so that a retry returns the same URL.

Two runs for the same PostgreSQL service take turns (an advisory lock); for Redis the steps are
single commands; for buckets the caller must run one at a time per service.
"""

from . import bucket, postgres, redis
from .core import DataServerError, Health, ServerURL, build_url, new_password, parse_url

__all__ = [
    "DataServerError",
    "Health",
    "ServerURL",
    "bucket",
    "build_url",
    "new_password",
    "parse_url",
    "postgres",
    "redis",
]
