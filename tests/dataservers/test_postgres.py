"""The PostgreSQL driver on the real server, through an admin role with CREATEDB and CREATEROLE
and no SUPERUSER. Each privilege claim of SPEC §13 is tried, not read from the catalog alone."""

from __future__ import annotations

import base64
import concurrent.futures
import threading
import time
import traceback

import psycopg
import pytest
from psycopg import errors, sql

from environments.dataservers import DataServerError, new_password, postgres

from .servers import CANARY, PG_HOST, PG_PORT, connect_as, pg_url, superuser_pg

pytest_plugins = ["tests.dataservers.servers"]


def roles_like(base: str) -> list[str]:
    with superuser_pg() as conn:
        rows = conn.execute(
            "SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s) ORDER BY 1", [base]
        )
        return [name for (name,) in rows]


def databases_like(base: str) -> list[str]:
    with superuser_pg() as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s) ORDER BY 1", [base]
        )
        return [name for (name,) in rows]


def test_the_admin_role_is_not_a_superuser(pg_admin):
    with connect_as(pg_admin) as conn:
        assert conn.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user"
        ).fetchone() == (False, True, True)


def test_check_returns_the_server_version(pg_admin):
    health = postgres.check(pg_admin)

    with superuser_pg() as conn:
        assert health.version == conn.execute("SHOW server_version").fetchone()[0]


def test_check_names_the_missing_privilege(pg_run):
    role = f"{pg_run}_weak_admin"
    with superuser_pg() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEDB").format(sql.Identifier(role)))

    with pytest.raises(DataServerError) as caught:
        postgres.check(pg_url(role, CANARY))

    assert str(caught.value) == (
        "check failed: InsufficientPrivilege (the admin role lacks CREATEROLE)"
    )


def test_provision_returns_the_login_url(pg_admin, pg_names):
    names = pg_names()
    password = new_password()

    url = postgres.provision(pg_admin, names, password)

    assert url == f"postgres://{names.login_a}:{password}@{PG_HOST}:{PG_PORT}/{names.database}"


def test_logins_are_least_privileged_members_of_the_owner(pg_admin, pg_names):
    names = pg_names()
    postgres.provision(pg_admin, names, new_password(), connection_limit=7)

    with superuser_pg() as conn:
        rows = conn.execute(
            "SELECT rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication,"
            " rolbypassrls, rolconnlimit, pg_has_role(rolname, %s, 'MEMBER')"
            " FROM pg_roles WHERE rolname = ANY(%s) ORDER BY rolname",
            [names.owner, [names.login_a, names.login_b]],
        ).fetchall()
        owner_can_login = conn.execute(
            "SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", [names.owner]
        ).fetchone()[0]
        database_owner = conn.execute(
            "SELECT datdba::regrole::text FROM pg_database WHERE datname = %s", [names.database]
        ).fetchone()[0]

    assert rows == [
        (names.login_a, True, False, False, False, False, False, 7, True),
        (names.login_b, False, False, False, False, False, False, 7, True),
    ]
    assert owner_can_login is False
    assert database_owner == names.owner


def test_the_login_creates_tables_owned_by_the_owner(pg_admin, pg_names):
    names = pg_names()
    url = postgres.provision(pg_admin, names, new_password())

    with connect_as(url) as conn:
        conn.execute("CREATE TABLE orders (id serial PRIMARY KEY, total int)")
        conn.execute("INSERT INTO orders (total) VALUES (42)")
        assert conn.execute("SELECT total FROM orders").fetchall() == [(42,)]
        owner = conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'orders'")
        assert owner.fetchone()[0] == names.owner


def test_the_login_cannot_connect_to_another_services_database(pg_admin, pg_names):
    mine, theirs = pg_names(), pg_names()
    url = postgres.provision(pg_admin, mine, new_password())
    postgres.provision(pg_admin, theirs, new_password())

    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        connect_as(url.rsplit("/", 1)[0] + "/" + theirs.database)


def test_the_login_cannot_create_roles_or_databases(pg_admin, pg_names):
    names = pg_names()
    url = postgres.provision(pg_admin, names, new_password())

    with connect_as(url) as conn:
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(f"{names.owner}_x")))
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(f"{names.owner}_x")))
        # Acting as the owner does not lift it: the owner has neither privilege either.
        conn.execute("RESET ROLE")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(f"{names.owner}_y")))


def test_the_second_login_starts_without_login(pg_admin, pg_names):
    names = pg_names()
    url = postgres.provision(pg_admin, names, new_password())

    with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
        connect_as(url.replace(names.login_a, names.login_b))


def test_rotation_moves_to_the_other_login_which_keeps_full_access(pg_admin, pg_names):
    names = pg_names()
    url_a = postgres.provision(pg_admin, names, new_password())
    session_a = connect_as(url_a)
    session_a.execute("CREATE TABLE items (id int PRIMARY KEY)")
    session_a.execute("INSERT INTO items VALUES (1)")

    url_b = postgres.enable_login(pg_admin, names, "b", new_password())
    with connect_as(url_b) as conn:
        conn.execute("INSERT INTO items VALUES (2)")
        conn.execute("ALTER TABLE items ADD COLUMN name text")  # needs the owner's rights
        assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == 2
    ended = postgres.disable_login(pg_admin, names, "a")

    assert ended == 1
    with pytest.raises(psycopg.OperationalError):
        session_a.execute("SELECT 1")
    session_a.close()
    with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
        connect_as(url_a)
    with connect_as(url_b) as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == 2


def test_provision_twice_creates_nothing_twice(pg_admin, pg_names):
    names = pg_names()
    password = new_password()

    first = postgres.provision(pg_admin, names, password)
    second = postgres.provision(pg_admin, names, password)

    assert first == second
    assert databases_like(names.database) == [names.database]
    assert roles_like(names.database) == sorted([names.owner, names.login_a, names.login_b])
    with superuser_pg() as conn:
        memberships = conn.execute(
            "SELECT count(*) FROM pg_auth_members WHERE roleid = %s::regrole", [names.owner]
        ).fetchone()[0]
    assert memberships == 3  # the two logins and the admin


def test_destroy_removes_everything_and_can_run_twice(pg_admin, pg_names):
    names = pg_names()
    url = postgres.provision(pg_admin, names, new_password())
    session = connect_as(url)

    postgres.destroy(pg_admin, names)
    postgres.destroy(pg_admin, names)

    assert databases_like(names.database) == []
    assert roles_like(names.database) == []
    with pytest.raises(psycopg.OperationalError):
        session.execute("SELECT 1")
    session.close()


def test_destroy_after_a_half_made_provision_removes_what_exists(pg_admin, pg_names):
    names = pg_names()
    admin = postgres._parse(pg_admin)
    with postgres._connect(admin) as conn:  # the owner and database steps ran, no logins
        postgres._ensure_owner(conn, names)
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(names.database), sql.Identifier(names.owner)
            )
        )

    postgres.destroy(pg_admin, names)

    assert databases_like(names.database) == []
    assert roles_like(names.database) == []


def fill_source(url: str, rows: int) -> None:
    with connect_as(url) as conn:
        conn.execute("CREATE TABLE orders (id serial PRIMARY KEY, note text NOT NULL)")
        conn.execute("CREATE INDEX orders_note ON orders (note)")
        conn.execute("CREATE VIEW big_orders AS SELECT * FROM orders WHERE id > 5000")
        conn.execute("CREATE TYPE mood AS ENUM ('ok', 'not ok')")
        conn.execute("CREATE FUNCTION answer() RETURNS int LANGUAGE sql AS 'SELECT 42'")
        conn.execute(
            "INSERT INTO orders (note) SELECT 'order ' || g FROM generate_series(1, %s) g",
            [rows],
        )


def assert_copy_holds_the_rows_and_nothing_of_the_source(url: str, source, target) -> None:
    with connect_as(url) as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone()[0] == 10_000
        assert conn.execute("SELECT count(*) FROM big_orders").fetchone()[0] == 5_000
        assert conn.execute("SELECT answer()").fetchone()[0] == 42
        conn.execute("INSERT INTO orders (note) VALUES ('new')")  # the sequence came along
        owners = conn.execute(
            "SELECT DISTINCT relowner::regrole::text FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE nspname = 'public'"
            " UNION SELECT DISTINCT proowner::regrole::text FROM pg_proc"
            "  WHERE pronamespace = 'public'::regnamespace"
            " UNION SELECT DISTINCT typowner::regrole::text FROM pg_type"
            "  WHERE typnamespace = 'public'::regnamespace"
        ).fetchall()
        assert owners == [(target.owner,)]
        leftovers = conn.execute(
            postgres._LEFTOVERS, [[source.owner, source.login_a, source.login_b]]
        )
        assert leftovers.fetchone()[0] == 0


def test_a_copy_holds_the_source_rows_owned_by_the_new_owner(pg_admin, pg_names):
    source, target = pg_names(), pg_names()
    source_url = postgres.provision(pg_admin, source, new_password())
    fill_source(source_url, 10_000)

    started = time.perf_counter()
    method = postgres.copy(pg_admin, source, target)
    url = postgres.provision(pg_admin, target, new_password())
    elapsed = time.perf_counter() - started

    assert method == "template"
    assert_copy_holds_the_rows_and_nothing_of_the_source(url, source, target)
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        connect_as(source_url.rsplit("/", 1)[0] + "/" + target.database)
    print(f"\ncopy of 10,000 rows by TEMPLATE + provision: {elapsed:.3f} s")


def test_a_copy_of_a_source_in_use_goes_through_pg_dump(pg_admin, pg_names):
    source, target = pg_names(), pg_names()
    source_url = postgres.provision(pg_admin, source, new_password())
    fill_source(source_url, 10_000)

    with connect_as(source_url):  # somebody is connected: no TEMPLATE
        started = time.perf_counter()
        url = postgres.provision(pg_admin, target, new_password(), copy_from=source)
        elapsed = time.perf_counter() - started

    assert_copy_holds_the_rows_and_nothing_of_the_source(url, source, target)
    assert postgres.copy(pg_admin, source, target) == "exists"
    print(f"\ncopy of 10,000 rows by pg_dump | pg_restore + provision: {elapsed:.3f} s")


def test_provision_time(pg_admin, pg_names):
    names = pg_names()
    started = time.perf_counter()
    postgres.provision(pg_admin, names, new_password())
    print(f"\npostgres provision: {time.perf_counter() - started:.3f} s")


def test_the_password_reaches_the_server_as_a_scram_verifier(pg_admin, pg_names):
    names = pg_names()
    password = new_password()
    postgres.provision(pg_admin, names, password)

    with superuser_pg() as conn:
        stored = conn.execute(
            "SELECT rolpassword FROM pg_authid WHERE rolname = %s", [names.login_a]
        ).fetchone()[0]
    # The server's own hash of our password, with the stored salt, is what was sent.
    iterations, salt = stored.split("$")[1].split(":")
    assert stored == postgres.scram_verifier(
        password, salt=base64.b64decode(salt), iterations=int(iterations)
    )
    assert password not in stored


def test_scram_verifier_matches_what_postgresql_computes(pg_run):
    role = f"{pg_run}_scram"
    with superuser_pg() as conn:
        conn.execute("SET password_encryption = 'scram-sha-256'")
        conn.execute(
            sql.SQL("CREATE ROLE {} PASSWORD {}").format(
                sql.Identifier(role), sql.Literal("plain text pw")
            )
        )
        stored = conn.execute(
            "SELECT rolpassword FROM pg_authid WHERE rolname = %s", [role]
        ).fetchone()[0]

    iterations, salt = stored.split("$")[1].split(":")
    assert (
        postgres.scram_verifier(
            "plain text pw", salt=base64.b64decode(salt), iterations=int(iterations)
        )
        == stored
    )


def test_errors_name_the_step_and_class_never_the_password(pg_run, pg_names):
    role = f"{pg_run}_no_createrole"
    with superuser_pg() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEDB").format(sql.Identifier(role)))

    with pytest.raises(DataServerError) as caught:
        postgres.provision(pg_url(role, CANARY), pg_names(), CANARY)

    error = caught.value
    assert str(error) == "create_owner failed: InsufficientPrivilege 42501"
    assert (error.step, error.transient) == ("create_owner", False)
    printed = "".join(traceback.format_exception(error))
    assert CANARY not in printed
    assert role not in printed


def test_a_server_that_is_down_is_a_transient_connect_error():
    with pytest.raises(DataServerError) as caught:
        postgres.check(f"postgres://admin:{CANARY}@127.0.0.1:1/postgres")

    assert str(caught.value) == "connect failed: OperationalError"
    assert caught.value.transient
    assert CANARY not in "".join(traceback.format_exception(caught.value))


def test_names_stay_within_the_identifier_limit():
    long = postgres.Names.for_service("x" * 80, prefix="miosa")
    other = postgres.Names.for_service("x" * 79 + "y", prefix="miosa")

    for names in (long, other):
        assert max(len(n) for n in (names.copying, names.owner, names.login_a)) <= 63
    assert long.database != other.database
    with pytest.raises(ValueError):
        postgres.Names.for_service('x"; DROP TABLE', prefix="miosa")


def test_two_workers_provisioning_the_same_service_create_it_once(pg_admin, pg_names):
    names = pg_names()
    password = new_password()
    start = threading.Barrier(2)

    def work() -> str:
        start.wait()
        return postgres.provision(pg_admin, names, password)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        urls = [f.result() for f in [pool.submit(work) for _ in range(2)]]

    assert urls[0] == urls[1]
    assert databases_like(names.database) == [names.database]
    assert roles_like(names.database) == sorted([names.owner, names.login_a, names.login_b])


def test_a_source_granting_to_its_own_logins_is_copied_through_pg_dump(pg_admin, pg_names):
    source, target = pg_names(), pg_names()
    source_url = postgres.provision(pg_admin, source, new_password())
    fill_source(source_url, 10_000)
    with connect_as(source_url) as conn:
        conn.execute(sql.SQL("GRANT SELECT ON orders TO {}").format(sql.Identifier(source.login_b)))
        conn.execute(
            sql.SQL("ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO {}").format(
                sql.Identifier(source.login_a)
            )
        )

    method = postgres.copy(pg_admin, source, target)

    assert method == "dump"  # a template copy would keep grants to the source's roles
    url = postgres.provision(pg_admin, target, new_password())
    assert_copy_holds_the_rows_and_nothing_of_the_source(url, source, target)
