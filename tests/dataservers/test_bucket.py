"""The bucket driver against moto's S3 and IAM server, with signatures and IAM policies enforced
(moto's INITIAL_NO_AUTH_ACTION_COUNT, see conftest). moto evaluates the user's identity policy
for each S3 request, so "allowed only on its bucket" is tried, not assumed."""

from __future__ import annotations

import time
import traceback

import pytest
from botocore.exceptions import ClientError

from environments.dataservers import DataServerError, bucket, parse_url

from .servers import CANARY, moto_client, s3_url

pytest_plugins = ["tests.dataservers.servers"]


def s3_as(url: str):
    parsed = parse_url(url, schemes=("s3",))
    endpoint = f"{parsed.host}:{parsed.port}"
    return moto_client("s3", endpoint, parsed.user, parsed.password)


def error_code(call) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"]


def test_check_answers_with_the_admin_key(bucket_admin):
    assert bucket.check(bucket_admin).version


def test_check_refuses_an_admin_key_without_iam(moto_endpoint, moto_keys):
    with pytest.raises(DataServerError) as caught:
        bucket.check(s3_url(moto_endpoint, *moto_keys["s3_only"]))

    assert str(caught.value) == (
        "check failed: AccessDenied (the admin key may not manage IAM users)"
    )


def test_provision_returns_a_url_with_the_bucket(bucket_admin, bucket_names, moto_endpoint):
    names = bucket_names()

    url = bucket.provision(bucket_admin, names)

    parsed = parse_url(url, schemes=("s3",))
    assert f"{parsed.host}:{parsed.port}" == moto_endpoint
    assert (parsed.path, parsed.query) == (names.bucket, {"secure": "false"})
    assert url.startswith(f"s3://{parsed.user}:") and parsed.user.startswith("AKIA")


def test_the_key_puts_and_gets_in_its_bucket_and_nothing_else(bucket_admin, bucket_names):
    names, other = bucket_names(), bucket_names()
    bucket.provision(bucket_admin, other)
    admin_s3 = s3_as(bucket_admin)
    admin_s3.put_object(Bucket=other.bucket, Key="theirs.txt", Body=b"theirs")
    s3 = s3_as(bucket.provision(bucket_admin, names))

    s3.put_object(Bucket=names.bucket, Key="hello.txt", Body=b"hello")
    assert s3.get_object(Bucket=names.bucket, Key="hello.txt")["Body"].read() == b"hello"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=names.bucket)["Contents"]] == ["hello.txt"]
    s3.delete_object(Bucket=names.bucket, Key="hello.txt")

    for refused in (
        lambda: s3.get_object(Bucket=other.bucket, Key="theirs.txt"),
        lambda: s3.put_object(Bucket=other.bucket, Key="mine.txt", Body=b"x"),
        lambda: s3.list_objects_v2(Bucket=other.bucket),
        lambda: s3.list_buckets(),
        lambda: s3.create_bucket(Bucket=f"{names.bucket}-more"),
        lambda: s3.delete_bucket(Bucket=names.bucket),
        lambda: s3.put_bucket_policy(Bucket=names.bucket, Policy="{}"),
    ):
        assert error_code(refused) == "AccessDenied"
    assert admin_s3.get_object(Bucket=other.bucket, Key="theirs.txt")["Body"].read() == b"theirs"


def test_provision_twice_creates_nothing_twice(bucket_admin, bucket_names):
    names = bucket_names()

    bucket.provision(bucket_admin, names)
    url = bucket.provision(bucket_admin, names)

    iam = moto_iam(bucket_admin)
    keys = iam.list_access_keys(UserName=names.user)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [parse_url(url, schemes=("s3",)).user]
    assert iam.list_user_policies(UserName=names.user)["PolicyNames"] == [bucket.POLICY_NAME]
    buckets = [b["Name"] for b in s3_as(bucket_admin).list_buckets()["Buckets"]]
    assert buckets.count(names.bucket) == 1
    s3_as(url).put_object(Bucket=names.bucket, Key="k", Body=b"v")


def moto_iam(url: str):
    parsed = parse_url(url, schemes=("s3",))
    return moto_client("iam", f"{parsed.host}:{parsed.port}", parsed.user, parsed.password)


def test_rotation_adds_a_second_key_then_deletes_the_first(bucket_admin, bucket_names):
    names = bucket_names()
    old_url = bucket.provision(bucket_admin, names)
    old_key = parse_url(old_url, schemes=("s3",)).user

    new_key, new_url = bucket.create_access_key(bucket_admin, names)

    s3_as(old_url).put_object(Bucket=names.bucket, Key="old", Body=b"1")
    s3_as(new_url).put_object(Bucket=names.bucket, Key="new", Body=b"2")
    bucket.delete_access_key(bucket_admin, names, old_key)
    bucket.delete_access_key(bucket_admin, names, old_key)
    assert error_code(lambda: s3_as(old_url).get_object(Bucket=names.bucket, Key="old")) in {
        "InvalidAccessKeyId",
        "AccessDenied",
    }
    assert s3_as(new_url).get_object(Bucket=names.bucket, Key="old")["Body"].read() == b"1"
    assert new_key != old_key


def test_destroy_empties_and_deletes_the_bucket_and_the_user(bucket_admin, bucket_names):
    names = bucket_names()
    url = bucket.provision(bucket_admin, names)
    s3 = s3_as(url)
    for i in range(30):
        s3.put_object(Bucket=names.bucket, Key=f"dir/{i}", Body=b"x")

    bucket.destroy(bucket_admin, names)
    bucket.destroy(bucket_admin, names)

    buckets = [b["Name"] for b in s3_as(bucket_admin).list_buckets()["Buckets"]]
    assert names.bucket not in buckets
    assert error_code(lambda: moto_iam(bucket_admin).get_user(UserName=names.user)) == (
        "NoSuchEntity"
    )
    assert error_code(lambda: s3.list_objects_v2(Bucket=names.bucket)) in {
        "InvalidAccessKeyId",
        "AccessDenied",
    }


def test_destroy_after_a_half_made_provision_removes_what_exists(bucket_admin, bucket_names):
    names = bucket_names()
    s3_as(bucket_admin).create_bucket(Bucket=names.bucket)  # the bucket step ran, no user

    bucket.destroy(bucket_admin, names)

    buckets = [b["Name"] for b in s3_as(bucket_admin).list_buckets()["Buckets"]]
    assert names.bucket not in buckets


def test_provision_time(bucket_admin, bucket_names):
    names = bucket_names()
    started = time.perf_counter()
    bucket.provision(bucket_admin, names)
    print(f"\nbucket provision (moto): {time.perf_counter() - started:.3f} s")


def test_errors_never_hold_the_secret(moto_endpoint, moto_keys, bucket_names):
    key, _ = moto_keys["admin"]

    with pytest.raises(DataServerError) as caught:
        bucket.provision(s3_url(moto_endpoint, key, CANARY), bucket_names())

    assert str(caught.value) == "create_bucket failed: SignatureDoesNotMatch"
    assert CANARY not in "".join(traceback.format_exception(caught.value))


def test_an_endpoint_that_is_down_is_a_transient_error(bucket_names):
    with pytest.raises(DataServerError) as caught:
        bucket.check(f"s3://AKIAEXAMPLE:{CANARY}@127.0.0.1:1?secure=false")

    assert str(caught.value) == "check failed: EndpointConnectionError"
    assert caught.value.transient
