"""The console in a real browser: Debian's Chromium (``/usr/bin/chromium``) driven by Python
Playwright against the real server (uvicorn in a thread, a temporary SQLite database seeded
through the service), at a laptop's 1366x768.

An institution signs in, uploads a synthetic file with errors, watches it being checked, opens
the result and an invalid record, downloads NHI's text and the encrypted zip (the bytes are
checked), opens the pre-check report, looks a visit up and switches to English; insurer staff
open the dashboards. Screenshots go to ``test-artifacts/screenshots/`` (git-ignored).

Never ``playwright install``: only the system browser is used. Without it (or without
Playwright) the tests skip with the reason, except under ``NHIHUB_REQUIRE_BROWSER=1`` (CI),
where they fail.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from nhihub.api import create_app
from nhihub.api.demo import encode_records
from nhihub.config import Settings
from nhihub.service import drain, list_batches, result_file
from nhihub.specs.catalogue import message
from nhihub.storage import create_engine_for, read_only, unit_of_work, upgrade

if TYPE_CHECKING:
    from tests.web.conftest import World, WorldBuilder

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REQUIRE_ENV = "NHIHUB_REQUIRE_BROWSER"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
VIEWPORT = {"width": 1366, "height": 768}
PASSWORD = "A123456789"
Unzip = Callable[[bytes, str], dict[str, bytes]]


def _unavailable() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Python Playwright is not installed"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (Debian package chromium)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = _unavailable()
    if reason is not None:
        if os.environ.get(REQUIRE_ENV, "").strip() not in ("", "0"):
            pytest.fail(f"{REQUIRE_ENV}=1 but {reason}", pytrace=False)
        pytest.skip(f"browser tests skipped: {reason}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Server:
    """uvicorn serving the app in a thread on a free port of 127.0.0.1."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()


@pytest.fixture(scope="module")
def site(
    browser: Any, tmp_path_factory: pytest.TempPathFactory, world_builder: WorldBuilder
) -> Iterator[tuple[str, World]]:
    """The real server on a temporary SQLite database seeded through the service. No worker
    thread: the test processes uploads itself, so the page is seen while still waiting."""
    data = tmp_path_factory.mktemp("browser")
    settings = Settings(
        db_url=f"sqlite:///{data / 'console.db'}",
        data_dir=data,
        data_key=secrets.token_bytes(32),
        lookup_key=secrets.token_bytes(32),
        data_key_id=1,
    )
    engine = create_engine_for(settings.db_url)
    upgrade(engine)
    world = world_builder(engine, settings)
    app = create_app(settings, engine=engine)
    with Server(app) as server:
        yield server.url, world
    engine.dispose()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT, locale="zh-TW", accept_downloads=True)
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    try:
        yield tab
    finally:
        context.close()


def shot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Any, url: str, token: str) -> None:
    page.goto(f"{url}/")
    assert "/console/login" in page.url
    page.get_by_label("權杖（API token）").fill(token)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{url}/console/uploads")


def test_institution_flow(
    page: Any, site: tuple[str, World], aes_unzip: Unzip, tmp_path: Path
) -> None:
    url, world = site
    # Sign in: the skip link comes first and shows where the focus is.
    page.goto(f"{url}/console/login")
    page.keyboard.press("Tab")
    focused = page.locator(":focus")
    assert focused.inner_text() == "跳至主要內容"
    assert focused.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
    shot(page, "01-login")
    sign_in(page, url, world.token("precheck"))
    assert page.locator("html").get_attribute("lang") == "zh-TW"

    # Upload a synthetic file with errors and watch it.
    upload_file = tmp_path / "day.xml"
    upload_file.write_bytes(encode_records(world.precheck.with_errors))
    page.get_by_role("link", name="上傳檔案").click()
    page.get_by_label("上傳檔案（XML，Big5 或 UTF-8）").set_input_files(str(upload_file))
    page.get_by_label("A1 正式上傳").check()
    shot(page, "02-upload-form")
    page.get_by_role("button", name="上傳", exact=True).click()
    page.wait_for_url(f"{url}/console/uploads/*")
    batch_id = int(page.url.rsplit("/", 1)[1])
    assert page.get_by_role("status").inner_text().startswith("檢核中")
    shot(page, "03-upload-waiting")
    drain(world.engine, world.settings)
    page.wait_for_selector("#counts-h", timeout=20_000)  # the page reloaded itself
    shot(page, "04-upload-result")
    with read_only(world.engine) as conn:
        batch = next(b for b in list_batches(conn, world.code("precheck")) if b.id == batch_id)
    counts = page.locator("#counts-h + .table-wrap td.num").all_inner_texts()
    c = batch.counts
    assert [int(x.replace(",", "")) for x in counts] == [
        c.records,
        c.valid_records,
        c.orders,
        c.valid_orders,
        c.invalid_records,
        c.invalid_orders,
    ]
    assert c.invalid_records > 0

    # Open an invalid record: field names and NHI's wording.
    page.get_by_role("link", name="檢視第").first.click()
    page.wait_for_url(f"{url}/console/uploads/{batch_id}/records/*")
    first = page.locator("#reasons-h ~ table tbody tr").first
    code = first.locator("td code").first.inner_text()
    field = first.locator("th code").inner_text()
    assert message(code, "zh") in first.inner_text()
    if field != "—":
        name = first.locator("td").first.inner_text()
        tables = page.locator("table.fields")  # MB1 first, then one table per order line
        scope = tables.first
        if "[" in field:  # an order-line field such as D09[3]: that line's table, bare name
            scope = tables.nth(int(field.split("[", 1)[1].rstrip("]")))
            name = name.split("（", 1)[0]
        assert name and name in scope.inner_text()
    shot(page, "05-invalid-record")

    # Downloads: NHI's text and the encrypted zip.
    page.go_back()
    with unit_of_work(world.engine) as conn:
        expected = result_file(conn, batch_id, "nhi-text", world.settings)
    with page.expect_download() as text_download:
        page.get_by_role("link", name="下載檢核結果（健保署格式文字檔，Big5）").click()
    text = Path(text_download.value.path()).read_bytes()
    assert text == expected and "錯誤原因:" in text.decode("cp950")
    page.get_by_label("壓縮檔密碼").fill(PASSWORD)
    with page.expect_download() as zip_download:
        page.get_by_role("button", name="加密下載").click()
    members = aes_unzip(Path(zip_download.value.path()).read_bytes(), PASSWORD)
    assert members[f"{batch_id}.txt"] == expected

    # The pre-check report.
    page.get_by_role("link", name="2.0預檢比對報表").click()
    assert page.get_by_text("尚未符合改版資格").is_visible()
    total = page.locator("table.report").first.locator("tbody tr").first
    cells = total.locator("td").all_inner_texts()
    assert int(cells[0].replace(",", "")) > int(cells[1].replace(",", "")) > 0
    shot(page, "06-precheck-report")
    page.get_by_label("壓縮檔密碼").fill(PASSWORD)
    with page.expect_download() as export:
        page.get_by_role("button", name="下載CSV（加密壓縮檔）").click()
    assert len(aes_unzip(Path(export.value.path()).read_bytes(), PASSWORD)) == 2

    # Visit look-up: one of the institution's visits, just uploaded.
    m15 = next(r.mb1["M15"] for r in world.precheck.with_errors if r.mb1.get("M15"))
    page.get_by_role("link", name="就醫資料查詢").click()
    page.get_by_label("就醫識別碼（M15）").fill(m15)
    page.get_by_label("就醫識別碼（M15）").press("Enter")
    page.wait_for_url(f"{url}/console/visits?m15=*")
    assert page.get_by_role("heading", name="慢性病連續處方箋調劑狀態").is_visible()
    shot(page, "07-visit-lookup")

    # English.
    page.get_by_role("link", name="English").click()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", name="Visit and refill status look-up").is_visible()
    page.get_by_role("link", name="Upload results").click()
    assert page.get_by_role("heading", name="Card-data upload results").is_visible()
    shot(page, "08-english-uploads")


def test_staff_dashboards(page: Any, site: tuple[str, World]) -> None:
    url, world = site
    sign_in(page, url, world.token("staff"))
    page.get_by_role("link", name="營運儀表板").click()
    charts = page.locator("figure svg[role=img]")
    assert charts.count() == 5
    assert charts.first.bounding_box()["width"] > 300  # scaled into the layout, not collapsed
    blocks = page.locator("section:has(#blocks-h) > p").first
    assert blocks.is_visible() and message("D025", "zh") in blocks.inner_text()
    shot(page, "09-dashboards")
    page.get_by_role("link", name="上傳檢核結果查詢").click()
    rows = page.locator("table.data tbody tr")
    assert rows.count() >= len(world.demo.batches)
    shot(page, "10-staff-uploads")
