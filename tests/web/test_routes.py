"""The console's pages through the real app on real databases (SQLite and PostgreSQL): sign in
and out, access rules (redirects, staff-only pages, another institution's upload answered 404
like a missing one), CSRF refusals, the upload flow, result downloads, the invalid-record page,
the pre-check report and its export, visit look-up, dashboards, languages and the markup rules
every page must keep (lang, skip link, labelled inputs, scoped table headers)."""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import update

from nhihub.api.demo import encode_records
from nhihub.service import get_batch, result_file
from nhihub.specs.catalogue import message
from nhihub.specs.fields import by_id
from nhihub.storage import unit_of_work
from nhihub.storage.schema import api_tokens
from nhihub.web.session import SESSION_COOKIE
from nhihub.web.views import field_name

if TYPE_CHECKING:
    from tests.web.conftest import Console, World

Unzip = Callable[[bytes, str], dict[str, bytes]]

PAGES = ("/console/uploads", "/console/precheck", "/console/visits")
# Pages, sessions and forms do not depend on the database: SQLite only. What reads data
# (access rules, results, reports, visits) runs on both backends.
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def main_part(html: str) -> str:
    """The page's main content (the header repeats the query in its language link)."""
    return html.split('<main id="main"', 1)[1].split("</main>", 1)[0]


def _batch_id(location: str) -> int:
    match = re.fullmatch(r"/console/uploads/(\d+)", location)
    assert match is not None, location
    return int(match.group(1))


def _upload(console: Console, raw: bytes, *, kind: str = "A1", csrf: str | None = None) -> int:
    token = console.csrf("/console/upload") if csrf is None else csrf
    resp = console.post(
        "/console/upload",
        data={"csrf": token, "kind": kind},
        files={"file": ("day.xml", raw, "application/xml")},
        follow_redirects=False,
    )
    assert resp.status_code == 303, resp.text
    return _batch_id(resp.headers["location"])


# -- markup rules --------------------------------------------------------------------------------


class Markup(HTMLParser):
    """Collects what the accessibility rules need from a page."""

    def __init__(self) -> None:
        super().__init__()
        self.html_lang: str | None = None
        self.ids: set[str] = set()
        self.label_for: set[str] = set()
        self.controls: list[dict[str, str | None]] = []
        self.th: list[dict[str, str | None]] = []
        self.links: list[str] = []
        self.scripts = 0
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "html":
            self.html_lang = a.get("lang")
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag == "label" and a.get("for"):
            self.label_for.add(str(a["for"]))
        if tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit"):
            self.controls.append(a)
        if tag == "th":
            self.th.append(a)
        if tag == "a" and a.get("href"):
            self.links.append(str(a["href"]))
        if tag == "script":
            self.scripts += 1
        for name in ("src", "href"):
            value = a.get(name) or ""
            if value.startswith(("http://", "https://", "//")):
                self.external.append(value)


def check_markup(html: str, lang: str = "zh-TW") -> Markup:
    page = Markup()
    page.feed(html)
    assert page.html_lang == lang
    assert "#main" in page.links and "main" in page.ids  # skip link to the main content
    for control in page.controls:
        assert control.get("id") in page.label_for or control.get("aria-label"), control
    assert all(th.get("scope") in ("col", "row", "colgroup") for th in page.th)
    assert page.scripts == 0
    assert page.external == []
    return page


# -- sign in and out -----------------------------------------------------------------------------


@SQLITE_ONLY
def test_root_and_console_redirect_to_sign_in(console: Console) -> None:
    root = console.get("/", follow_redirects=False)
    assert root.status_code == 307 and root.headers["location"] == "/console/"
    home = console.get("/console/", follow_redirects=False)
    assert home.status_code == 303
    assert home.headers["location"].startswith("/console/login?next=")


@SQLITE_ONLY
@pytest.mark.parametrize("path", [*PAGES, "/console/dashboard", "/console/upload"])
def test_pages_need_a_session(console: Console, path: str) -> None:
    resp = console.get(path + "?x=1", follow_redirects=False)
    assert resp.status_code == 303
    target = parse_qs(urlsplit(resp.headers["location"]).query)["next"][0]
    assert target == path + "?x=1"


@SQLITE_ONLY
def test_sign_in_sets_a_signed_hash_session_not_the_token(console: Console, world: World) -> None:
    token = world.token("clinic")
    resp = console.sign_in(token, next_url="/console/visits")
    assert resp.status_code == 303 and resp.headers["location"] == "/console/visits"
    cookie = next(
        c for c in resp.headers.get_list("set-cookie") if c.startswith(f"{SESSION_COOKIE}=")
    )
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert token not in cookie
    page = console.get("/console/uploads")
    assert page.status_code == 200 and world.code("clinic") in page.text


@SQLITE_ONLY
def test_sign_in_refuses_a_wrong_token_and_a_foreign_next(console: Console, world: World) -> None:
    wrong = console.sign_in("nhh_not-a-token")
    assert wrong.status_code == 401
    assert "權杖錯誤或已撤銷" in wrong.text
    assert SESSION_COOKIE not in wrong.headers.get("set-cookie", "")
    assert console.sign_in("x" * 5000).status_code == 401  # a page, not a validation error
    resp = console.sign_in(world.token("clinic"), next_url="https://evil.example/console/x")
    assert resp.headers["location"] == "/console/"


@SQLITE_ONLY
def test_sign_in_needs_the_forms_nonce(console: Console, world: World) -> None:
    resp = console.post(
        "/console/login",
        data={"token": world.token("clinic"), "csrf": "forged"},
        follow_redirects=False,
    )
    assert resp.status_code == 403
    assert SESSION_COOKIE not in resp.headers.get("set-cookie", "")


@SQLITE_ONLY
def test_sign_out_needs_csrf_and_ends_the_session(console: Console, world: World) -> None:
    console.sign_in(world.token("clinic"))
    refused = console.post("/console/logout", data={"csrf": "nope"}, follow_redirects=False)
    assert refused.status_code == 403
    assert console.get("/console/uploads").status_code == 200
    out = console.post("/console/logout", data={"csrf": console.csrf()}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/console/login?signed_out=1"
    assert console.get("/console/uploads", follow_redirects=False).status_code == 303


def test_a_revoked_token_ends_its_sessions(fresh_console: Console, fresh_world: World) -> None:
    console, world = fresh_console, fresh_world
    console.sign_in(world.token("clinic"))
    with unit_of_work(world.engine) as conn:
        conn.execute(update(api_tokens).values(revoked_at=api_tokens.c.created_at))
    assert console.get("/console/uploads", follow_redirects=False).status_code == 303


@SQLITE_ONLY
def test_a_tampered_session_cookie_is_refused(console: Console, world: World) -> None:
    console.sign_in(world.token("clinic"))
    value = console.client.cookies.get(SESSION_COOKIE)
    assert value is not None
    body, mac = value.split(".")
    console.client.cookies.set(SESSION_COOKIE, body + "." + mac[::-1], path="/console")
    assert console.get("/console/uploads", follow_redirects=False).status_code == 303


# -- every page ----------------------------------------------------------------------------------


@SQLITE_ONLY
@pytest.mark.parametrize("role", ["clinic", "staff"])
def test_every_page_renders_and_keeps_the_markup_rules(
    console: Console, world: World, role: str
) -> None:
    console.sign_in(world.token(role))
    batch = world.batch("prescriber")
    paths = [*PAGES, f"/console/uploads/{world.batch('clinic')}"]
    paths.append("/console/dashboard" if role == "staff" else "/console/upload")
    if role == "staff":
        paths.append(f"/console/uploads/{batch}")
    for path in paths:
        resp = console.get(path)
        assert resp.status_code == 200, path
        assert "default-src 'none'" in resp.headers["content-security-policy"]
        assert resp.headers["cache-control"] == "no-store"
        check_markup(resp.text)
    console.client.cookies.clear()
    check_markup(console.get("/console/login").text)


@SQLITE_ONLY
def test_staff_only_and_institution_only_pages(console: Console, world: World) -> None:
    console.sign_in(world.token("clinic"))
    assert console.get("/console/dashboard").status_code == 403
    console.sign_in(world.token("staff"))
    refused = console.get("/console/upload")
    assert refused.status_code == 403 and "健保署人員權杖不可上傳" in refused.text
    resp = console.post(
        "/console/upload",
        data={"csrf": console.csrf(), "kind": "A1"},
        files={"file": ("x.xml", b"<x/>", "application/xml")},
    )
    assert resp.status_code == 403


@SQLITE_ONLY
def test_unknown_console_path_is_a_page_not_json(console: Console) -> None:
    resp = console.get("/console/no/such/page")
    assert resp.status_code == 404 and "查無此頁面" in resp.text
    check_markup(resp.text)


# -- another institution's data ------------------------------------------------------------------


def test_another_institutions_upload_is_answered_like_a_missing_one(
    console: Console, world: World
) -> None:
    console.sign_in(world.token("clinic"))
    theirs = world.batch("prescriber")
    missing = 10_000_000
    for suffix in ("", "/download/nhi", "/records/1"):
        other = console.get(f"/console/uploads/{theirs}{suffix}")
        none = console.get(f"/console/uploads/{missing}{suffix}")
        assert other.status_code == none.status_code == 404
        assert main_part(other.text) == main_part(none.text)
    listing = console.get("/console/uploads").text
    assert f'/console/uploads/{theirs}"' not in listing
    assert f'/console/uploads/{world.batch("clinic")}"' in listing
    csrf = console.csrf()
    enc = console.post(
        f"/console/uploads/{theirs}/encrypted", data={"csrf": csrf, "password": "x" * 10}
    )
    assert enc.status_code == 404


def test_institutions_cannot_widen_their_scope(console: Console, world: World) -> None:
    console.sign_in(world.token("clinic"))
    other = world.code("prescriber")
    listing = main_part(console.get(f"/console/uploads?institution={other}").text)
    assert f'/console/uploads/{world.batch("prescriber")}"' not in listing
    report = main_part(console.get(f"/console/precheck?institution={world.code('precheck')}").text)
    assert world.code("precheck") not in report and world.code("clinic") in report


def test_staff_see_every_institution_and_can_narrow(console: Console, world: World) -> None:
    console.sign_in(world.token("staff"))
    everything = console.get("/console/uploads").text
    for role in ("prescriber", "clinic", "second_pharmacy"):
        assert f'/console/uploads/{world.batch(role)}"' in everything
    one = console.get(f"/console/uploads?institution={world.code('clinic')}").text
    assert f'/console/uploads/{world.batch("prescriber")}"' not in one
    assert f'/console/uploads/{world.batch("clinic")}"' in one


# -- upload, watch, result -----------------------------------------------------------------------


def test_upload_watch_and_result(fresh_console: Console, fresh_world: World) -> None:
    console, world = fresh_console, fresh_world
    console.sign_in(world.token("precheck"))
    raw = encode_records(world.precheck.with_errors)
    batch_id = _upload(console, raw)
    waiting = console.get(f"/console/uploads/{batch_id}")
    assert '<meta http-equiv="refresh"' in waiting.text and "檢核中" in waiting.text
    assert world.process() == [batch_id]
    done = console.get(f"/console/uploads/{batch_id}")
    assert 'http-equiv="refresh"' not in done.text
    with unit_of_work(world.engine) as conn:
        view = get_batch(conn, batch_id)
    assert view is not None and view.counts.invalid_records > 0
    cells = re.findall(r'<td class="num">([\d,]+)</td>', done.text)[:6]
    c = view.counts
    expected = [c.records, c.valid_records, c.orders, c.valid_orders, c.invalid_records,
                c.invalid_orders]  # fmt: skip
    assert [int(x.replace(",", "")) for x in cells] == expected
    assert f"/console/uploads/{batch_id}/download/nhi" in done.text
    listing = console.get("/console/uploads").text
    assert f"/console/uploads/{batch_id}/download/nhi" in listing  # 下載 in the list's last column


@SQLITE_ONLY
def test_upload_refusals(fresh_console: Console, fresh_world: World) -> None:
    console, world = fresh_console, fresh_world
    console.sign_in(world.token("clinic"))
    before = console.get("/console/uploads").text.count("/console/uploads/")
    forged = console.post(
        "/console/upload",
        data={"csrf": "forged", "kind": "A1"},
        files={"file": ("x.xml", b"<x/>", "application/xml")},
    )
    assert forged.status_code == 403
    csrf = console.csrf("/console/upload")
    empty = console.post(
        "/console/upload", data={"csrf": csrf, "kind": "A1"}, files={"file": ("e.xml", b"")}
    )
    assert empty.status_code == 422 and "檔案是空的" in empty.text
    kind = console.post(
        "/console/upload", data={"csrf": csrf, "kind": "ZZ"}, files={"file": ("e.xml", b"<x/>")}
    )
    assert kind.status_code == 422 and "A1 或 A2" in kind.text
    none = console.post("/console/upload", data={"csrf": csrf, "kind": "A1"})
    assert none.status_code == 422
    big = console.post(
        "/console/upload",
        data={"csrf": csrf, "kind": "A1"},
        files={"file": ("big.xml", b"x" * (world.settings.max_upload_bytes + 1))},
    )
    assert big.status_code == 413
    assert console.get("/console/uploads").text.count("/console/uploads/") == before


def test_pre_check_upload_is_recorded_as_a2(fresh_console: Console, fresh_world: World) -> None:
    console, world = fresh_console, fresh_world
    console.sign_in(world.token("precheck"))
    batch_id = _upload(console, encode_records(world.precheck.v2[:5]), kind="A2")
    world.process()
    with unit_of_work(world.engine) as conn:
        view = get_batch(conn, batch_id)
    assert view is not None and view.kind == "A2" and view.channel == "web"


# -- downloads -----------------------------------------------------------------------------------


def test_downloads_are_the_service_results(console: Console, world: World) -> None:
    console.sign_in(world.token("prescriber"))
    batch_id = world.batch("prescriber")
    with unit_of_work(world.engine) as conn:
        expected = {
            fmt: result_file(conn, batch_id, fmt, world.settings)
            for fmt in ("nhi-text", "csv", "json")
        }
    for what, fmt in (("nhi", "nhi-text"), ("csv", "csv"), ("json", "json")):
        resp = console.get(f"/console/uploads/{batch_id}/download/{what}")
        assert resp.status_code == 200
        assert resp.content == expected[fmt]
        assert "attachment" in resp.headers["content-disposition"]
    assert (
        "big5" in console.get(f"/console/uploads/{batch_id}/download/nhi").headers["content-type"]
    )
    assert console.get(f"/console/uploads/{batch_id}/download/pdf").status_code == 404


def test_encrypted_download(console: Console, world: World, aes_unzip: Unzip) -> None:
    console.sign_in(world.token("prescriber"))
    batch_id = world.batch("prescriber")
    csrf = console.csrf()
    path = f"/console/uploads/{batch_id}/encrypted"
    assert console.post(path, data={"csrf": "x", "password": "A123456789"}).status_code == 403
    short = console.post(path, data={"csrf": csrf, "password": "short"})
    assert short.status_code == 422 and "密碼至少 8 個字元" in short.text
    resp = console.post(path, data={"csrf": csrf, "password": "A123456789"})
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/zip"
    members = aes_unzip(resp.content, "A123456789")
    with unit_of_work(world.engine) as conn:
        text = result_file(conn, batch_id, "nhi-text", world.settings)
    assert members[f"{batch_id}.txt"] == text
    assert f"{batch_id}.csv" in members


@SQLITE_ONLY
def test_result_not_ready_yet(fresh_console: Console, fresh_world: World) -> None:
    console, world = fresh_console, fresh_world
    console.sign_in(world.token("clinic"))
    batch_id = _upload(console, encode_records(world.demo.plan.curl_records))
    assert console.get(f"/console/uploads/{batch_id}/download/nhi").status_code == 409
    assert console.get(f"/console/uploads/{batch_id}/records/1").status_code == 404


# -- the invalid record --------------------------------------------------------------------------


def test_invalid_record_shows_field_names_values_and_official_wording(
    console: Console, world: World
) -> None:
    console.sign_in(world.token("prescriber"))
    batch_id = world.batch("prescriber")
    result = console.get(f"/console/uploads/{batch_id}").text
    indexes = re.findall(rf"/console/uploads/{batch_id}/records/(\d+)", result)
    assert indexes
    page = console.get(f"/console/uploads/{batch_id}/records/{indexes[0]}")
    assert page.status_code == 200
    check_markup(page.text)
    reasons = re.search(r"錯誤原因:</span> <code>([^<]+)</code>", page.text)
    assert reasons is not None
    fields = by_id("2.0")
    for pair in reasons.group(1).rstrip(";").split(";"):
        field, _, code = pair.rpartition(":")
        assert message(code, "zh") in page.text and message(code, "en") in page.text
        if field in fields or field.split("[")[0] in fields:
            base = field.split("[")[0]
            assert fields[base].name_zh in page.text and fields[base].name_en in page.text
        elif field:  # a finding on a whole segment (MB2: Y012, Y013, AG), named in zh-TW
            assert field_name(field, "2.0", "zh") in page.text
    # NHI's masking: no person ID, the birth date as its year only
    records = next(b.records for b in world.demo.plan.batches if b.role == "prescriber")
    person = records[int(indexes[0]) - 1].mb1["M03"]  # the file numbers records from 1
    assert person not in page.text
    assert "（不顯示）" in page.text and "（僅顯示年）" in page.text


@SQLITE_ONLY
def test_a_record_that_does_not_exist(console: Console, world: World) -> None:
    console.sign_in(world.token("prescriber"))
    batch_id = world.batch("prescriber")
    assert console.get(f"/console/uploads/{batch_id}/records/99999").status_code == 404
    assert console.get(f"/console/uploads/{batch_id}/records/0").status_code == 404


# -- pre-check report ----------------------------------------------------------------------------


def test_pre_check_report_page_and_export(console: Console, world: World, aes_unzip: Unzip) -> None:
    console.sign_in(world.token("precheck"))
    page = console.get("/console/precheck")
    assert page.status_code == 200
    for heading in (
        "1.0上傳成功資料件數(A)",
        "對應1.0成功資料之2.0預檢成功件數(B)",
        "Web-API",
        "VPN",
    ):
        assert heading in page.text
    assert "尚未符合改版資格" in page.text  # some 1.0 visits have no pre-check
    ratio = re.search(
        r'<th scope="row">合計</th>\s*<td class="num">([\d,]+)</td>\s*'
        r'<td class="num">([\d,]+)</td>\s*<td class="num">(\d+)%</td>',
        page.text,
    )
    assert ratio is not None
    a, b = (int(ratio.group(i).replace(",", "")) for i in (1, 2))
    assert 0 < b < a
    csrf = console.csrf("/console/precheck")
    refused = console.post("/console/precheck/export", data={"csrf": "x", "password": "A123456789"})
    assert refused.status_code == 403
    short = console.post("/console/precheck/export", data={"csrf": csrf, "password": "abc"})
    assert short.status_code == 422 and "密碼至少" in short.text
    resp = console.post("/console/precheck/export", data={"csrf": csrf, "password": "A123456789"})
    assert resp.status_code == 200
    names = sorted(aes_unzip(resp.content, "A123456789"))
    assert len(names) == 2 and any("健保卡1.0比對不到健保卡2.0之清單" in n for n in names)


@SQLITE_ONLY
def test_pre_check_report_bad_date(console: Console, world: World) -> None:
    console.sign_in(world.token("precheck"))
    resp = console.get("/console/precheck?as_of=113/13/40")
    assert resp.status_code == 422 and "日期格式錯誤" in resp.text


def test_staff_pre_check_report_for_one_institution_or_all(console: Console, world: World) -> None:
    console.sign_in(world.token("staff"))
    one = console.get(f"/console/precheck?institution={world.code('precheck')}")
    assert one.status_code == 200 and "尚未符合改版資格" in one.text
    assert console.get("/console/precheck").status_code == 200
    bad = console.get("/console/precheck?institution=12")
    assert bad.status_code == 422 and "醫事機構代碼格式錯誤" in bad.text


# -- visits and refills --------------------------------------------------------------------------


def test_visit_look_up_with_refills(console: Console, world: World) -> None:
    plan = world.demo.plan
    console.sign_in(world.token("prescriber"))
    page = console.get(f"/console/visits?m15={plan.prescription.lower()}")
    assert page.status_code == 200
    assert "就醫資料" in page.text and plan.prescription in page.text
    assert "已調劑" in page.text and "未調劑" in page.text
    check_markup(page.text)


def test_visit_of_another_institution_shows_only_refill_status(
    console: Console, world: World
) -> None:
    plan = world.demo.plan
    console.sign_in(world.token("pharmacy"))
    page = console.get(f"/console/visits?m15={plan.prescription}")
    assert "查無您可檢視之就醫資料" in page.text
    assert "已調劑" in page.text  # the refill status: any institution may ask


@SQLITE_ONLY
def test_visit_look_up_refusals(console: Console, world: World) -> None:
    console.sign_in(world.token("clinic"))
    bad = console.get("/console/visits?m15=not-an-id")
    assert bad.status_code == 422 and "20 碼" in bad.text
    unknown = console.get("/console/visits?m15=" + "2" * 20)
    assert unknown.status_code == 200 and "D024" in unknown.text


# -- dashboards ----------------------------------------------------------------------------------


def test_dashboards_for_staff(console: Console, world: World) -> None:
    console.sign_in(world.token("staff"))
    page = console.get("/console/dashboard")
    assert page.status_code == 200
    assert page.text.count("<svg") == 5
    assert message("D025", "zh") in page.text  # the duplicate dispensing the demo provoked
    assert "24小時內上傳比率" in page.text
    for role in ("prescriber", "second_pharmacy"):
        assert world.code(role) in page.text
    narrowed = console.get(f"/console/dashboard?institution={world.code('clinic')}").text
    table = narrowed.split('id="uploads-table-caption"', 1)[1].split("</table>", 1)[0]
    assert world.code("clinic") in table and world.code("prescriber") not in table
    wrong = console.get("/console/dashboard?from=113/03/20&to=113/03/01")
    assert wrong.status_code == 422 and "結束日期早於起始日期" in wrong.text


@SQLITE_ONLY
def test_uploads_page_refuses_a_bad_range_or_institution_and_shows_the_default(
    console: Console, world: World
) -> None:
    console.sign_in(world.token("staff"))
    wrong = console.get("/console/uploads?from=113/03/20&to=113/03/01")
    assert wrong.status_code == 422 and "結束日期早於起始日期" in wrong.text
    bad = console.get("/console/uploads?institution=12")
    assert bad.status_code == 422 and "醫事機構代碼格式錯誤" in bad.text
    assert world.code("prescriber") in bad.text  # the default listing: every institution


# -- languages -----------------------------------------------------------------------------------


@SQLITE_ONLY
def test_english_switch_is_kept_in_a_cookie(console: Console, world: World) -> None:
    console.sign_in(world.token("clinic"))
    zh = console.get("/console/uploads")
    assert "上傳檢核結果查詢" in zh.text and 'lang="zh-TW"' in zh.text
    en = console.get("/console/uploads?lang=en")
    assert "Card-data upload results" in en.text
    check_markup(en.text, lang="en")
    again = console.get("/console/precheck")
    assert 'lang="en"' in again.text and "Format 2.0 pre-check" in again.text
    back = console.get("/console/precheck?lang=zh-TW")
    assert 'lang="zh-TW"' in back.text and "健保卡2.0預檢比對健保卡1.0統計報表" in back.text


@SQLITE_ONLY
def test_english_invalid_record_still_shows_the_official_wording(
    console: Console, world: World
) -> None:
    console.sign_in(world.token("prescriber"))
    batch_id = world.batch("prescriber")
    result = console.get(f"/console/uploads/{batch_id}?lang=en").text
    index = re.findall(rf"/console/uploads/{batch_id}/records/(\d+)", result)[0]
    page = console.get(f"/console/uploads/{batch_id}/records/{index}").text
    assert "NHI wording (Chinese)" in page
    codes = re.findall(r'<td class="nowrap"><code>([A-Z0-9]+)</code> <span class="sev">', page)
    assert codes and all(message(c, "zh") in page and message(c, "en") in page for c in codes)
