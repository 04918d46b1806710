"""The shared database fixtures isolate tests from each other."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, Engine, func, select

from nhihub.storage import Institution, get_institution, insert_institution, unit_of_work
from nhihub.storage.schema import institutions

CODE = "7777777777"


@pytest.mark.parametrize("turn", [1, 2])
def test_conn_changes_are_rolled_back(conn: Connection, turn: int) -> None:
    assert get_institution(conn, CODE) is None  # not left over from the other turn
    insert_institution(conn, Institution(CODE, f"turn {turn}", "clinic"))
    with conn.begin_nested():  # code under test may commit a savepoint
        insert_institution(conn, Institution("7777777778", "nested", "clinic"))
    assert conn.execute(select(func.count()).select_from(institutions)).scalar() == 2


def test_conn_refuses_a_real_commit(conn: Connection) -> None:
    insert_institution(conn, Institution(CODE, "x", "clinic"))
    with pytest.raises(AssertionError, match="committed the test transaction"):
        conn.commit()


@pytest.mark.parametrize("turn", [1, 2])
def test_fresh_engine_starts_empty_and_commits(fresh_engine: Engine, turn: int) -> None:
    with unit_of_work(fresh_engine) as conn:
        assert conn.execute(select(func.count()).select_from(institutions)).scalar() == 0
        insert_institution(conn, Institution(CODE, f"turn {turn}", "clinic"))
    with fresh_engine.connect() as other:
        assert get_institution(other, CODE) is not None  # committed, seen elsewhere


def test_fresh_db_url_points_at_the_fresh_database(fresh_engine: Engine, fresh_db_url: str) -> None:
    assert fresh_engine.url.render_as_string(hide_password=False) == fresh_db_url
    assert fresh_engine.dialect.name in ("sqlite", "postgresql")
