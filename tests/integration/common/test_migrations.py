"""Migrations over real PostgreSQL: applied once, in order, even when instances race."""

import asyncio

import pytest

from services.common import db


async def test_instances_starting_at_once_apply_each_migration_exactly_once(database_url, tmp_path):
    (tmp_path / "0001_create.sql").write_text("CREATE TABLE things (id int PRIMARY KEY);")
    (tmp_path / "0002_insert.sql").write_text("INSERT INTO things VALUES (1);")
    pools = [await db.create_pool(database_url, size=2) for _ in range(4)]
    try:
        applied = await asyncio.gather(*(db.migrate(pool, "race", tmp_path) for pool in pools))
        assert sorted(applied, key=len)[-1] == ["0001_create.sql", "0002_insert.sql"]
        assert sum(len(names) for names in applied) == 2
        assert await pools[0].fetchval("SELECT count(*) FROM race.things") == 1
        assert await db.migrate(pools[0], "race", tmp_path) == []
    finally:
        for pool in pools:
            await pool.close()


async def test_a_failing_migration_leaves_nothing_half_applied(database_url, tmp_path):
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE kept (id int);")
    (tmp_path / "0002_broken.sql").write_text("CREATE TABLE lost (id int); SELECT 1/0;")
    pool = await db.create_pool(database_url, size=1)
    try:
        try:
            await db.migrate(pool, "partial", tmp_path)
        except Exception as error:
            assert "division by zero" in str(error)
        names = await pool.fetch("SELECT name FROM partial.migrations")
        assert [row["name"] for row in names] == ["0001_ok.sql"]
        assert await pool.fetchval("SELECT to_regclass('partial.lost')") is None
    finally:
        await pool.close()


async def test_a_migration_edited_after_it_was_applied_stops_start_up_naming_the_file(
    database_url, tmp_path
):
    (tmp_path / "0001_create.sql").write_text("CREATE TABLE things (id int PRIMARY KEY);")
    (tmp_path / "0002_insert.sql").write_text("INSERT INTO things VALUES (1);")
    pool = await db.create_pool(database_url, size=1)
    try:
        await db.migrate(pool, "edited", tmp_path)
        (tmp_path / "0002_insert.sql").write_text("INSERT INTO things VALUES (2);")
        with pytest.raises(db.MigrationChanged, match=r"0002_insert\.sql"):
            await db.migrate(pool, "edited", tmp_path)
        assert await pool.fetchval("SELECT array_agg(id) FROM edited.things") == [1]
    finally:
        await pool.close()


async def test_a_database_migrated_before_checksums_were_kept_records_them_on_first_sight(
    database_url, tmp_path
):
    (tmp_path / "0001_create.sql").write_text("CREATE TABLE things (id int PRIMARY KEY);")
    pool = await db.create_pool(database_url, size=1)
    try:
        await pool.execute(
            "CREATE SCHEMA legacy; CREATE TABLE legacy.things (id int PRIMARY KEY);"
            " CREATE TABLE legacy.migrations"
            " (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());"
            " INSERT INTO legacy.migrations (name) VALUES ('0001_create.sql');"
        )
        assert await db.migrate(pool, "legacy", tmp_path) == []
        (tmp_path / "0001_create.sql").write_text("CREATE TABLE things (id bigint);")
        with pytest.raises(db.MigrationChanged, match=r"0001_create\.sql"):
            await db.migrate(pool, "legacy", tmp_path)
    finally:
        await pool.close()
