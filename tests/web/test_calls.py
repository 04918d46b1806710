"""The console's calls into the service on real databases: sessions looked up by token hash
(revocation counts), the access rule, one record read back from the raw upload, the encrypted
result download."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import delete, update

from nhihub.protect import hash_token
from nhihub.service import Viewer, result_file
from nhihub.storage import unit_of_work
from nhihub.storage.schema import api_tokens, upload_batches, upload_raw
from nhihub.web import calls

if TYPE_CHECKING:
    from tests.web.conftest import Console, World

    from nhihub.api.context import ApiContext

Unzip = Callable[[bytes, str], dict[str, bytes]]


def _ctx(console: Console) -> ApiContext:
    ctx: ApiContext = console.client.app.state.nhihub  # type: ignore[attr-defined]
    return ctx


def test_sessions_follow_the_token(fresh_console: Console, fresh_world: World) -> None:
    console, world = fresh_console, fresh_world
    ctx = _ctx(console)
    signed = calls.sign_in(ctx, f"  {world.token('clinic')}  ")
    assert signed is not None
    viewer, token_hash = signed
    assert viewer.institution == world.code("clinic")
    assert token_hash == hash_token(world.token("clinic"))
    assert calls.viewer_of(ctx, token_hash) == viewer
    staff = calls.viewer_of(ctx, hash_token(world.token("staff")))
    assert staff is not None and staff.role == "staff"
    assert calls.sign_in(ctx, "") is None and calls.sign_in(ctx, "nhh_unknown") is None
    assert calls.viewer_of(ctx, hash_token("nhh_unknown")) is None
    with unit_of_work(world.engine) as conn:
        conn.execute(update(api_tokens).values(revoked_at=api_tokens.c.created_at))
    assert calls.viewer_of(ctx, token_hash) is None


def test_batches_of_other_institutions_are_invisible(console: Console, world: World) -> None:
    ctx = _ctx(console)
    mine = Viewer.of_institution(world.code("clinic"))
    assert calls.batch_for(ctx, mine, world.batch("clinic")) is not None
    assert calls.batch_for(ctx, mine, world.batch("prescriber")) is None
    assert calls.batch_for(ctx, Viewer.staff(), world.batch("prescriber")) is not None
    assert calls.batch_for(ctx, mine, 10**9) is None


def test_record_for_reads_the_raw_upload_again(fresh_console: Console, fresh_world: World) -> None:
    console, world = fresh_console, fresh_world
    ctx = _ctx(console)
    batch = calls.batch_for(ctx, Viewer.staff(), world.batch("prescriber"))
    assert batch is not None
    records = next(b.records for b in world.demo.plan.batches if b.role == "prescriber")
    stored = calls.record_for(ctx, batch, 2)
    assert stored is not None
    assert stored.record.mb1["M15"] == records[1].mb1["M15"]
    assert calls.record_for(ctx, batch, 0) is None
    assert calls.record_for(ctx, batch, len(records) + 1) is None
    with unit_of_work(world.engine) as conn:
        conn.execute(delete(upload_raw).where(upload_raw.c.batch_id == batch.id))
        conn.execute(
            update(upload_batches).where(upload_batches.c.id == batch.id).values(raw_path=None)
        )
    assert calls.record_for(ctx, batch, 2) is None  # the raw upload is gone


def test_encrypted_result(console: Console, world: World, aes_unzip: Unzip) -> None:
    ctx = _ctx(console)
    batch = calls.batch_for(ctx, Viewer.staff(), world.batch("dental"))
    assert batch is not None
    archive = calls.encrypted_result(ctx, batch, "correct horse")
    assert archive is not None
    members = aes_unzip(archive, "correct horse")
    with unit_of_work(world.engine) as conn:
        csv = result_file(conn, batch.id, "csv", world.settings)
    assert members[f"{batch.id}.csv"] == csv
