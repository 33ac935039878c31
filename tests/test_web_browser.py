"""The page in a real headless Chromium (Debian's), against the real waitress server.

Set ``QI_UI_SCREENSHOTS=samples/screenshots`` to also save a PNG of every page on the way
(that is how the README's pictures are made).
"""

from __future__ import annotations

import io
import os
import shutil
import threading
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None  # type: ignore[assignment]

if sync_playwright is None:
    pytest.skip("playwright (pip) is not installed", allow_module_level=True)
if not Path(CHROMIUM).is_file():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)


@pytest.fixture
def server(tmp_path: Path):
    from qi_excel.web.server import make_server

    workspace = tmp_path / "qi-excel评价"
    srv, url = make_server(workspace, 0)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    yield workspace, url
    srv.close()
    thread.join(timeout=10)


@pytest.fixture
def page():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(accept_downloads=True, viewport={"width": 1360, "height": 900},
                                      locale="zh-CN")
        pg = context.new_page()
        outside: list[str] = []
        pg.on("request", lambda r: outside.append(r.url) if not r.url.startswith(("http://127.0.0.1", "data:")) else None)
        yield pg
        assert outside == []  # nothing is ever fetched from elsewhere
        browser.close()


def shot(pg, name: str, *, full: bool = True) -> None:
    target = os.environ.get("QI_UI_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        pg.evaluate("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
        pg.screenshot(path=str(Path(target) / f"ui-{name}.png"), full_page=full)


def shot_of(locator, name: str) -> None:
    target = os.environ.get("QI_UI_SCREENSHOTS")
    if target:
        locator.page.evaluate("document.activeElement && document.activeElement.blur()")
        locator.screenshot(path=str(Path(target) / f"ui-{name}.png"))


def test_an_evaluation_from_the_form_to_the_report(server, page, simulated_returns, tmp_path: Path) -> None:
    from qi_excel.evaluation import sample_info, sample_panel

    workspace, url = server
    pg = page
    pg.goto(url)
    expect(pg.locator("h1")).to_have_text("评价列表")
    assert "token=" not in pg.url
    pg.get_by_role("link", name="＋ 新建评价").click()
    expect(pg.locator("h1")).to_have_text("新建评价")

    info, panel = sample_info(), sample_panel()
    pg.fill('input[name="folder"]', "长沙县一站式服务评价")
    for attr in ("service_name", "applicant", "head", "contact", "contact_email", "organizer", "evaluation_date"):
        pg.fill(f'[name="{attr}"]', getattr(info, attr))
    pg.fill('[name="address"]', info.address)
    rows = pg.locator("#roster tbody tr")
    assert rows.count() == 7
    for i, expert in enumerate(panel.experts):
        row = rows.nth(i)
        for attr in ("name", "title", "employer", "field", "phone", "email"):
            row.locator(f'[name="expert_{attr}"]').fill(getattr(expert, attr))
        row.locator('select[name="expert_role"]').select_option(expert.role)
    review = pg.locator("#review-table tbody tr")
    assert review.count() == 5  # materials a)-e) of clause 6.2
    for i in range(5):
        review.nth(i).locator("select").select_option("是")
    review.nth(2).locator("input").fill("2025 年度工作总结")
    pg.select_option("#review-conclusion", "符合")
    pg.fill('[name="review_reviewer"]', "邓晓梅")
    shot(pg, "新建评价")
    pg.get_by_role("button", name="建立评价").click()
    expect(pg.locator(".messages .msg-ok").first).to_contain_text("已建立评价“长沙县一站式服务评价”")
    expect(pg.locator("#review-state")).to_contain_text("审查结论：符合")
    folder = workspace / "长沙县一站式服务评价"
    from qi_excel.evaluation import read_project

    recorded = read_project(folder).review
    assert recorded is not None and recorded.passed and recorded.materials[2].remark == "2025 年度工作总结"

    pg.locator("#issue-button").click()
    expect(pg.locator(".messages .msg-ok").first).to_contain_text("7 位专家的评分工作簿和邮件草稿")
    with pg.expect_download() as dl:
        pg.locator("#download-all").click()
    names = zipfile.ZipFile(dl.value.path()).namelist()
    assert sum(n.endswith(".xlsx") for n in names) == 7 and sum(n.endswith(".eml") for n in names) == 7

    good, bad, corrected, bad_ref = simulated_returns(folder)
    good, absent = good[:-1], panel.experts[6]  # the seventh member never sends a workbook
    sent = tmp_path / "专家交回"
    sent.mkdir()
    paths = []
    for name, data in [*good, bad]:
        (sent / name).write_bytes(data)
        paths.append(str(sent / name))
    pg.set_input_files("#file-input", paths)
    verdicts = pg.locator("#verdicts .verdict")
    expect(verdicts).to_have_count(6, timeout=20_000)
    expect(pg.locator("#verdicts .verdict.accepted")).to_have_count(5)
    rejected = pg.locator("#verdicts .verdict.rejected")
    expect(rejected).to_contain_text(bad[0])
    sheet, cell = bad_ref.split("!")
    expect(rejected.locator("tr.error", has_text=cell).first).to_contain_text(sheet)
    expect(pg.locator("#status-body")).to_contain_text("已拒收。把问题转发给专家")
    shot(pg, "回收检查")
    shot_of(pg.locator("#collect"), "拖入交回文件")

    (sent / corrected[0]).write_bytes(corrected[1])
    pg.set_input_files("#file-input", [str(sent / corrected[0])])
    expect(pg.locator("#verdicts .verdict.accepted")).to_have_count(1, timeout=20_000)
    expect(pg.locator("#verdicts")).to_contain_text(corrected[0])
    expect(pg.locator("#steps-body")).to_contain_text("已接收 6/7")

    pg.locator("#remind-button").click()
    expect(pg.locator(".messages .msg-ok").first).to_contain_text("已生成 1 封催办邮件草稿")
    with pg.expect_download() as dl:
        pg.locator("#reminders a").first.click()
    assert dl.value.suggested_filename.endswith("-催交.eml") and absent.name in dl.value.suggested_filename

    row = pg.locator(f'#status-body tr[data-expert="{absent.expert_id}"]')
    row.locator("summary", has_text="登记请假").click()
    reason = "因病未能参加现场考察"
    row.locator('input[name="reason"]').fill(reason)
    shot_of(pg.locator("#status"), "回收情况和请假")
    row.get_by_role("button", name="登记请假").click()
    expect(pg.locator(".messages .msg-ok").first).to_contain_text(f"已登记 {absent.name}（{absent.expert_id}）请假：{reason}")
    expect(pg.locator(f'#status-body tr[data-expert="{absent.expert_id}"]')).to_contain_text("已请假")
    expect(pg.locator("#steps-body")).to_contain_text("已接收 6/7，请假 1")

    pg.select_option('select[name="method"]', "mean")
    pg.locator("#consolidate-button").click()
    expect(pg.locator(".messages .msg-ok").first).to_contain_text("汇总完成：6 位专家（专家组 7 人，1 人请假）")
    from qi_excel.consolidation_step import load_consolidation

    cons = load_consolidation(folder)
    assert len(cons.experts) == 6 and [x.expert_id for x in cons.excused] == [absent.expert_id]
    expect(pg.locator("#total strong")).to_have_text(str(cons.total))
    expect(pg.locator("#excused-note")).to_contain_text(f"实到 6 人。请假：{absent.name}（{reason}）")
    expect(pg.locator("svg.chart rect")).to_have_count(6)
    shot(pg, "评价页")
    shot_of(pg.locator("#consolidate"), "汇总")
    shot_of(pg.locator("#opinion"), "专家组意见")

    pg.locator("#report-button").click()
    expect(pg.locator(".messages .msg-ok").first).to_contain_text("已生成 评价报告.docx")
    with pg.expect_download() as dl:
        pg.locator("#download-report").click()
    assert dl.value.suggested_filename == "评价报告.docx"
    import docx

    document = docx.Document(io.BytesIO(Path(dl.value.path()).read_bytes()))
    cells = {c.text for t in document.tables for row in t.rows for c in row.cells}
    assert any(str(cons.total) in c for c in cells)
    text = "\n".join([p.text for p in document.paragraphs] + sorted(cells))
    assert absent.name in text and reason in text  # who was excused, and why

    from qi_excel import office

    with_pdf = office.soffice_path() is not None
    if with_pdf:
        pg.locator("#pdf-all").check()  # applies to every button of the card, like --pdf
    for button, key in (("plan-button", "plan"), ("signin-button", "signin_first")):
        pg.locator(f"#{button}").click()
        if with_pdf:
            expect(pg.locator(".messages .msg-ok").first).to_contain_text(".pdf", timeout=60_000)
            pg.locator("#pdf-all").check()
        with pg.expect_download() as dl:
            pg.locator(f"#download-{key}").click()
        assert dl.value.suggested_filename.endswith(".docx")
    shot_of(pg.locator("#documents"), "文件和归档")
    pg.locator("#log-link").click()
    expect(pg.locator("#log-check")).to_contain_text("操作记录校验通过")
    expect(pg.locator("table.log")).to_contain_text("登记请假")
    shot(pg, "操作记录")


    from qi_excel import Evaluation

    for folder_name, place, issue in (("望城区一站式服务评价", "望城区", True), ("浏阳市一站式服务评价", "浏阳市", False)):
        from qi_excel.review import sample_review
        from qi_excel.workbook_project import (
            fill_project_workbook,
            project_template_bytes,
        )

        other_info = info._replace(service_name=f"{place}质量基础设施“一站式”服务",
                             applicant=f"{place}质量基础设施“一站式”服务中心")
        other = Evaluation.new(workspace / folder_name, project=fill_project_workbook(
            project_template_bytes(), other_info, panel, sample_review()))
        if issue:
            other.issue()
    pg.get_by_role("link", name="评价列表").first.click()
    expect(pg.locator("table.list tbody tr")).to_have_count(3)
    row = pg.locator("table.list tbody tr", has_text="长沙县一站式服务评价")
    expect(row).to_contain_text("已出报告")
    expect(row).to_contain_text("6 / 7")
    expect(row).to_contain_text(str(cons.total))
    shot(pg, "评价列表")


def test_a_page_without_the_token_shows_nothing(server, page) -> None:
    workspace, url = server
    from qi_excel.evaluation import new_evaluation

    new_evaluation(workspace / "秘密评价", sample=True)
    response = page.goto(url.split("?")[0])
    assert response is not None and response.status == 403
    assert "秘密评价" not in page.content()
    expect(page.locator("h1")).to_have_text("无权访问")


def test_files_dropped_on_the_zone_are_checked(server, page) -> None:
    from qi_excel import Evaluation

    workspace, url = server
    e = Evaluation.new(workspace / "拖放", sample=True)
    e.issue()
    page.goto(url)
    page.get_by_role("link", name="拖放").click()
    transfer = page.evaluate_handle("""() => {
        const dt = new DataTransfer();
        dt.items.add(new File(["not a workbook"], "坏文件.xlsx", {type: "application/octet-stream"}));
        dt.items.add(new File(["From: a@example.com\\r\\nSubject: x\\r\\n\\r\\nhello"], "回复.eml", {type: "message/rfc822"}));
        return dt;
    }""")
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})
    expect(page.locator("#verdicts .verdict.rejected")).to_have_count(2, timeout=20_000)
    expect(page.locator("#verdicts")).to_contain_text("坏文件.xlsx")
    expect(page.locator("#verdicts")).to_contain_text("回复.eml")
    expect(page.locator("#verdicts")).to_contain_text("没有附件")
    expect(page.locator("#stage")).to_have_text("回收中")
