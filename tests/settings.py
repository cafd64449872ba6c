"""Test settings: fixed, test-only keys unless the environment gives others, then the real
settings module (so tests exercise exactly what production reads)."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-use-0123456789")
os.environ.setdefault(
    "ENCRYPTION_KEYS",
    # Two keys: the first encrypts; the second exists so that rotation paths are exercised.
    "t2:dGVzdC1vbmx5LWtleS10d28tLS0tLS0tLS0tLS0tLS0=,t1:dGVzdC1vbmx5LWtleS1vbmUtLS0tLS0tLS0tLS0tLS0=",
)

from project.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed, tests only
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
SECURE_SSL_REDIRECT = False
# The tests count rate limits in memory whatever REDIS_URL says (the conftest empties it before
# each test); tests/api/test_ratelimit_servers.py starts app servers of its own that share Redis.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
