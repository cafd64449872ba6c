"""Bucket data services on an S3-compatible endpoint with the AWS IAM API (AWS S3, Ceph RGW
with IAM accounts; moto in tests): a bucket, an IAM user whose inline policy allows only that
bucket and its objects, and an access key of that user (SPEC §13). Rotation creates a second
access key and later deletes the first (SPEC §14).

MinIO and Cloudflare R2 speak S3 but not the IAM API (MinIO manages users and policies through
its admin API, R2 through Cloudflare API tokens): they would need a driver of their own.

Admin URL: `s3://ACCESS_KEY:SECRET_KEY@HOST:PORT` (`?secure=false` for plain HTTP,
`?region=` when it is not us-east-1). The admin key needs to create and delete buckets and
IAM users, their inline policies and access keys.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from .core import DataServerError, Health, ServerURL, derived_base, parse_url, step

SCHEMES = ("s3",)
POLICY_NAME = "miosa-bucket-access"

# One session for every client: it loads the services' models once (a new session per call
# costs a fraction of a second each). Sessions are not thread-safe, hence the lock.
_SESSION = boto3.session.Session()
_SESSION_LOCK = threading.Lock()


@dataclass(frozen=True)
class Names:
    bucket: str
    user: str

    @classmethod
    def for_service(cls, service_key: str, *, prefix: str = "miosa") -> Names:
        # Bucket names: 3-63 lower-case letters, digits and hyphens.
        base = derived_base(
            prefix.replace("_", "-"), service_key.replace("_", "-"), limit=63, sep="-"
        )
        return cls(bucket=base, user=base)


def _parse(admin_url: str) -> ServerURL:
    return parse_url(admin_url, schemes=SCHEMES)


def _clients(admin: ServerURL) -> tuple[Any, Any]:
    secure = admin.query.get("secure", "true") != "false"
    options = {
        "endpoint_url": f"{'https' if secure else 'http'}://{admin.host}:{admin.port}",
        "aws_access_key_id": admin.user,
        "aws_secret_access_key": admin.password,
        "region_name": admin.query.get("region", "us-east-1"),
        "config": Config(
            s3={"addressing_style": "path"},
            connect_timeout=10,
            read_timeout=30,
            retries={"max_attempts": 2},
        ),
    }
    with _SESSION_LOCK:
        return _SESSION.client("s3", **options), _SESSION.client("iam", **options)


def policy(bucket: str) -> dict[str, Any]:
    """Objects in, out and listed; not the bucket itself (no deleting it, no bucket policy that
    would make it public)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "s3:ListBucket",
                    "s3:GetBucketLocation",
                    "s3:ListBucketMultipartUploads",
                ],
                "Resource": [f"arn:aws:s3:::{bucket}"],
            },
            {
                "Effect": "Allow",
                "Action": [
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:DeleteObject",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                ],
                "Resource": [f"arn:aws:s3:::{bucket}/*"],
            },
        ],
    }


def service_url(admin_url: str, names: Names, access_key: str, secret_key: str) -> str:
    """s3://ACCESS_KEY:SECRET_KEY@HOST:PORT/BUCKET (with the admin URL's `secure`/`region`)."""
    admin = _parse(admin_url)
    return ServerURL(
        scheme="s3",
        host=admin.host,
        port=admin.port,
        user=access_key,
        password=secret_key,
        path=names.bucket,
        query={k: v for k, v in admin.query.items() if k in ("secure", "region")},
    ).build()


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


# Health


def check(admin_url: str) -> Health:
    """List buckets and IAM users: both APIs answer and the admin key may use them. The version
    is what the endpoint says it is (the Server header), or "s3"."""
    admin = _parse(admin_url)
    s3, iam = _clients(admin)
    with step("check"):
        response = s3.list_buckets()
        try:
            iam.list_users(MaxItems=1)
        except ClientError as exc:
            raise DataServerError(
                "check", _code(exc) or "ClientError", "the admin key may not manage IAM users"
            ) from None
    server = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("server", "s3")
    return Health(version=server)


# Provisioning


def provision(admin_url: str, names: Names) -> str:
    """Create (or complete) the bucket, the user and its policy, and return a URL with a new
    access key. Idempotent: the user ends with exactly one key, the one returned (keys left by
    an earlier attempt were never handed out and are deleted). Once ready, rotate instead.
    Unlike PostgreSQL's, two concurrent runs for the same service may each replace the other's
    key: the caller runs one at a time per service (the task's row lock)."""
    admin = _parse(admin_url)
    s3, iam = _clients(admin)
    with step("create_bucket"):
        try:
            s3.create_bucket(Bucket=names.bucket)
        except ClientError as exc:
            if _code(exc) != "BucketAlreadyOwnedByYou":
                raise
    with step("create_user"):
        try:
            iam.create_user(UserName=names.user)
        except ClientError as exc:
            if _code(exc) != "EntityAlreadyExists":
                raise
        iam.put_user_policy(
            UserName=names.user,
            PolicyName=POLICY_NAME,
            PolicyDocument=json.dumps(policy(names.bucket)),
        )
    with step("create_access_key"):
        for key in _access_keys(iam, names):
            iam.delete_access_key(UserName=names.user, AccessKeyId=key)
        created = iam.create_access_key(UserName=names.user)["AccessKey"]
    return service_url(admin_url, names, created["AccessKeyId"], created["SecretAccessKey"])


def _access_keys(iam: Any, names: Names) -> list[str]:
    try:
        pages = iam.get_paginator("list_access_keys").paginate(UserName=names.user)
        return [k["AccessKeyId"] for page in pages for k in page["AccessKeyMetadata"]]
    except ClientError as exc:
        if _code(exc) == "NoSuchEntity":
            return []
        raise


# Rotation primitives


def create_access_key(admin_url: str, names: Names) -> tuple[str, str]:
    """A second access key of the service's user; returns (key id, URL)."""
    admin = _parse(admin_url)
    _, iam = _clients(admin)
    with step("create_access_key"):
        created = iam.create_access_key(UserName=names.user)["AccessKey"]
    url = service_url(admin_url, names, created["AccessKeyId"], created["SecretAccessKey"])
    return created["AccessKeyId"], url


def access_keys(admin_url: str, names: Names) -> list[str]:
    """The ids of the service user's access keys (none when the user is gone)."""
    admin = _parse(admin_url)
    _, iam = _clients(admin)
    with step("list_access_keys"):
        return _access_keys(iam, names)


def delete_access_key(admin_url: str, names: Names, key_id: str) -> None:
    """Delete one access key of the service's user. Idempotent."""
    admin = _parse(admin_url)
    _, iam = _clients(admin)
    with step("delete_access_key"):
        try:
            iam.delete_access_key(UserName=names.user, AccessKeyId=key_id)
        except ClientError as exc:
            if _code(exc) != "NoSuchEntity":
                raise


# Destroy


def destroy(admin_url: str, names: Names) -> None:
    """Delete the user (its keys and policy first: revoke access before removing data), then
    empty and delete the bucket. Removes whatever exists; safe when run twice."""
    admin = _parse(admin_url)
    s3, iam = _clients(admin)
    with step("destroy"):
        for key in _access_keys(iam, names):
            iam.delete_access_key(UserName=names.user, AccessKeyId=key)
        for call in (
            lambda: iam.delete_user_policy(UserName=names.user, PolicyName=POLICY_NAME),
            lambda: iam.delete_user(UserName=names.user),
        ):
            try:
                call()
            except ClientError as exc:
                if _code(exc) != "NoSuchEntity":
                    raise
        try:
            _empty(s3, names.bucket)
            s3.delete_bucket(Bucket=names.bucket)
        except ClientError as exc:
            if _code(exc) != "NoSuchBucket":
                raise


def _empty(s3: Any, bucket: str) -> None:
    uploads = s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket)
    for page in uploads:
        for upload in page.get("Uploads", []):
            s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    # Versions and delete markers too, so a bucket that had versioning turned on empties.
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        objects = [
            {"Key": o["Key"], "VersionId": o["VersionId"]}
            for o in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if objects:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
