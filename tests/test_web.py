"""The page's request handlers through Flask's test client: access, CSRF, limits, uploads."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("flask")

from qi_excel.evaluation import new_evaluation
from qi_excel.web import (
    create_app,
    uploads,
)

PORT = 8123
BASE = f"http://127.0.0.1:{PORT}"
TOKEN = "test-token-123"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "工作区"
    ws.mkdir()
    new_evaluation(ws / "评价A", sample=True)
    return ws


@pytest.fixture
def app(workspace: Path):
    return create_app(workspace, token=TOKEN, port=PORT)


@pytest.fixture
def client(app):
    c = app.test_client()
    r = c.get(f"/?token={TOKEN}", base_url=BASE)
    assert r.status_code == 303
    return c


def csrf_of(client) -> str:
    page = client.get("/", base_url=BASE).get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([0-9a-f]+)"', page).group(1)


def post(client, path: str, data: dict | None = None, **kw):
    data = dict(data or {})
    data.setdefault("csrf_token", csrf_of(client))
    return client.post(path, data=data, base_url=BASE, **kw)


def upload(client, name: str, files: list[tuple[str, bytes]]):
    data = {"files": [(io.BytesIO(b), n) for n, b in files], "csrf_token": csrf_of(client)}
    r = client.post(f"/e/{name}/upload", data=data, base_url=BASE, content_type="multipart/form-data",
                    headers={"Accept": "application/json"})
    return r


# ───────────────────────────── access ─────────────────────────────


def test_without_the_token_every_page_is_403_and_shows_no_data(app, workspace: Path) -> None:
    c = app.test_client()
    for path in ("/", "/e/评价A", "/static/app.js", "/e/评价A/download/project", "/blank-project"):
        r = c.get(path, base_url=BASE)
        assert r.status_code == 403, path
        body = r.get_data(as_text=True)
        assert "评价A" not in body and "长沙县" not in body and str(workspace) not in body
        assert "没有访问令牌" in body
    r = c.get("/?token=wrong", base_url=BASE)
    assert r.status_code == 403 and "访问令牌不正确" in r.get_data(as_text=True)
    c.set_cookie(f"qi_excel_token_{PORT}", "wrong", domain="127.0.0.1")
    assert c.get("/", base_url=BASE).status_code == 403


def test_the_token_moves_into_an_httponly_strict_cookie(app) -> None:
    c = app.test_client()
    r = c.get(f"/e/评价A?token={TOKEN}", base_url=BASE)
    assert r.status_code == 303
    assert r.headers["Location"] == "/e/%E8%AF%84%E4%BB%B7A"  # the token leaves the address bar
    cookie = r.headers["Set-Cookie"]
    assert f"qi_excel_token_{PORT}={TOKEN}" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    page = c.get("/", base_url=BASE)
    assert page.status_code == 200 and "评价A" in page.get_data(as_text=True)
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("host", ["evil.example:8123", "127.0.0.1:9999", "localhost", "127.0.0.1.evil.example:8123"])
def test_a_foreign_host_header_is_refused_even_with_the_cookie(client, host: str) -> None:
    r = client.get("/", base_url=BASE, headers={"Host": host})
    assert r.status_code == 403
    assert "长沙县" not in r.get_data(as_text=True) and "工作区" not in r.get_data(as_text=True)


def test_localhost_with_the_port_is_accepted(app) -> None:
    c = app.test_client()
    local = f"http://localhost:{PORT}"
    assert c.get(f"/?token={TOKEN}", base_url=local).status_code == 303
    assert c.get("/", base_url=local).status_code == 200


def test_state_changes_need_post_and_the_csrf_token(client, workspace: Path) -> None:
    folder = workspace / "评价A"
    assert client.get("/e/评价A/issue", base_url=BASE).status_code == 405
    r = client.post("/e/评价A/issue", data={"kind": "expert"}, base_url=BASE)
    assert r.status_code == 403 and "CSRF" in r.get_data(as_text=True)
    r = client.post("/e/评价A/issue", data={"kind": "expert", "csrf_token": "0" * 64}, base_url=BASE)
    assert r.status_code == 403
    assert not list((folder / "发放").iterdir())
    assert client.delete("/e/评价A", base_url=BASE).status_code == 405
    r = post(client, "/e/评价A/issue", {"kind": "expert"})
    assert r.status_code == 303
    assert len(list((folder / "发放").glob("*.xlsx"))) == 7


# ───────────────────────────── paths ─────────────────────────────


def test_an_evaluation_id_cannot_leave_the_workspace(client, workspace: Path, tmp_path: Path) -> None:
    outside = tmp_path / "外面"
    new_evaluation(outside, sample=True)
    (workspace / "链接").symlink_to(outside, target_is_directory=True)
    (workspace / "普通文件夹").mkdir()
    for name in ("..", "%2E%2E", "..%2F外面", "链接", "普通文件夹", "评价A%2F..%2F..%2F外面", ".qi"):
        r = client.get(f"/e/{name}", base_url=BASE)
        assert r.status_code == 404, name
    listing = client.get("/", base_url=BASE).get_data(as_text=True)
    assert "链接" not in listing and "普通文件夹" not in listing
    assert client.get("/e/评价A/download/..%2F..%2Fsecret", base_url=BASE).status_code == 404
    assert client.get("/e/评价A/download/secret", base_url=BASE).status_code == 404
    assert client.get("/e/评价A/issued/0/xlsx", base_url=BASE).status_code == 404  # nothing issued yet


def test_new_evaluation_names_cannot_be_paths(client, workspace: Path) -> None:
    for bad in ("../逃出", "a/b", ".qi", "..", "x\\y"):
        r = post(client, "/new", {"folder": bad})
        assert r.status_code == 400, bad
        assert "评价名称" in r.get_data(as_text=True)
    assert sorted(p.name for p in workspace.parent.iterdir()) == ["工作区"]
    assert sorted(p.name for p in workspace.iterdir()) == ["评价A"]


# ───────────────────────────── 新建评价 ─────────────────────────────


def _review(conclusion: str = "符合", *, deadline: str = "", missing: str = "") -> dict:
    """The 申请材料审查 fields as the page posts them (``missing``: letters marked 否)."""
    data = {f"material_{k}": ("否" if k in missing else "是") for k in "abcde"}
    data.update({f"remark_{k}": f"备注{k}" for k in "abcde"})
    data.update({"review_conclusion": conclusion, "review_deadline": deadline, "review_reviewer": "王审查",
                 "review_date": "2026-11-20", "review_opinion": "材料齐全" if conclusion == "符合" else "缺少工作总结"})
    return data


def _form(folder: str, experts: int, *, titles: str = "教授", review: dict | None = None) -> dict:
    data: dict = {"folder": folder, "service_name": "岳麓区质量基础设施“一站式”服务", "applicant": "岳麓区服务中心",
                  "evaluation_date": "2026-12-01", **(_review() if review is None else review)}
    for key in ("number", "name", "title", "employer", "field", "phone", "email", "role"):
        data[f"expert_{key}"] = []
    for i in range(1, experts + 1):
        row = {"number": str(i), "name": f"专家{i}", "title": titles, "employer": "某大学", "field": "计量",
               "phone": "", "email": f"e{i}@example.com", "role": "组长" if i == 1 else "成员"}
        for key, value in row.items():
            data[f"expert_{key}"].append(value)
    return data


def test_new_from_the_form_applies_clause_7_2_like_issue(client, workspace: Path) -> None:
    r = post(client, "/new", _form("岳麓", 4))
    page = r.get_data(as_text=True)
    assert r.status_code == 400
    assert "专家组只有 4 名专家；规范 7.2 条要求不少于 5 人" in page
    assert 'value="专家4"' in page  # what was typed is kept
    assert not (workspace / "岳麓").exists()
    r = post(client, "/new", _form("岳麓", 5))
    assert r.status_code == 303 and r.headers["Location"].startswith("/e/")
    from qi_excel.evaluation import read_project

    project = read_project(workspace / "岳麓")
    assert project.info.applicant == "岳麓区服务中心"
    assert [e.name for e in project.experts] == [f"专家{i}" for i in range(1, 6)]
    assert project.experts[0].role == "组长"


def test_new_from_the_form_refuses_a_formula(client, workspace: Path) -> None:
    data = _form("公式", 5)
    data["expert_name"][1] = "=HYPERLINK(\"http://x\")"
    r = post(client, "/new", data)
    assert r.status_code == 400 and "不能以“=”开头" in r.get_data(as_text=True)
    assert not (workspace / "公式").exists()


def test_new_from_an_uploaded_project_and_the_blank_download(client, workspace: Path) -> None:
    blank = client.get("/blank-project", base_url=BASE)
    assert blank.status_code == 200 and blank.data.startswith(b"PK")
    r = post(client, "/new", {"folder": "空白", "project": (io.BytesIO(blank.data), "评价项目.xlsx")},
             content_type="multipart/form-data")
    assert r.status_code == 400 and "必填项为空" in r.get_data(as_text=True)
    sample = (workspace / "评价A" / "评价项目.xlsx").read_bytes()
    r = post(client, "/new", {"folder": "上传", "project": (io.BytesIO(sample), "../../评价项目.xlsx")},
             content_type="multipart/form-data")
    assert r.status_code == 303
    assert (workspace / "上传" / "评价项目.xlsx").read_bytes() == sample


# ───────────────────────────── uploads ─────────────────────────────


@pytest.fixture
def issued(client, workspace: Path) -> Path:
    assert post(client, "/e/评价A/issue", {"kind": "expert", "eml": "1"}).status_code == 303
    return workspace / "评价A"


def test_hostile_uploads_get_a_verdict_and_never_become_paths(client, issued: Path, tmp_path: Path) -> None:
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/workbook.xml", b"<" + b"a" * 50_000_000 + b">")
    files = [
        ("../../../逃出.xlsx", b"not a workbook"),
        ("bomb.xlsx", bomb.getvalue()),
        ("a\x1b[31mred\u202e.xlsx", b"PK\x03\x04garbage"),
        ("mail.eml", b"From: x@example.com\r\nSubject: hi\r\n\r\nno attachment"),
        ("report.docx", b"PK\x03\x04"),
        ("", b"nameless"),
    ]
    r = upload(client, "评价A", files)
    assert r.status_code == 200
    verdicts = r.get_json()["verdicts"]
    assert [v["status"] for v in verdicts] == ["rejected"] * 5
    assert all(v["findings"] and v["findings"][0]["message"] for v in verdicts)
    assert verdicts[0]["name"] == "逃出.xlsx"
    assert "\x1b" not in verdicts[2]["name"] and "\u202e" not in verdicts[2]["name"]
    stored = sorted(p.name for p in (issued / "收件箱").iterdir())
    assert len(stored) == 5 and all(re.fullmatch(r"网页上传-\d{8}-\d{6}-[0-9a-f]{8}\.(xlsx|eml|bin)", n) for n in stored)
    assert not (tmp_path / "逃出.xlsx").exists() and not (issued.parent / "逃出.xlsx").exists()
    names = json.loads((issued / ".qi" / "web-uploads.json").read_text(encoding="utf-8"))
    assert sorted(names.values()) == sorted(v["name"] for v in verdicts)


def test_upload_limits(client, issued: Path, app, monkeypatch) -> None:
    monkeypatch.setattr(uploads, "MAX_FILES", 2)
    monkeypatch.setattr(uploads, "MAX_FILE_BYTES", 1000)
    r = upload(client, "评价A", [("a.xlsx", b"x" * 10), ("big.xlsx", b"x" * 1001), ("c.xlsx", b"x")])
    verdicts = r.get_json()["verdicts"]
    assert [v["name"] for v in verdicts] == ["a.xlsx", "big.xlsx", "c.xlsx"]
    assert "超过" in verdicts[1]["findings"][0]["message"] and verdicts[1]["findings"][0]["code"] == "TOO_LARGE"
    assert "一次最多上传 2 个文件" in verdicts[2]["findings"][0]["message"]
    assert len(list((issued / "收件箱").iterdir())) == 1
    app.config["MAX_CONTENT_LENGTH"] = 10_000
    r = upload(client, "评价A", [("huge.xlsx", b"x" * 20_000)])
    assert r.status_code == 413 and "太大" in r.get_json()["error"]
    assert len(list((issued / "收件箱").iterdir())) == 1


def test_the_whole_evaluation_through_the_handlers(client, issued: Path, simulated_returns) -> None:
    good, bad, corrected, bad_ref = simulated_returns(issued)
    r = upload(client, "评价A", [*good, bad])
    verdicts = {v["name"]: v for v in r.get_json()["verdicts"]}
    assert [verdicts[n]["status"] for n, _ in good] == ["accepted"] * 6
    rejected = verdicts[bad[0]]
    sheet, cell = bad_ref.split("!")
    assert rejected["status"] == "rejected"
    assert any(f["sheet"] == sheet and f["cell"] == cell for f in rejected["findings"])
    assert "已拒收" in r.get_json()["status_html"]
    page = client.get("/e/评价A", base_url=BASE).get_data(as_text=True)
    assert "已拒收。把问题转发给专家" in page and cell in page
    r = upload(client, "评价A", [corrected])
    assert [v["status"] for v in r.get_json()["verdicts"]] == ["accepted"]
    assert post(client, "/e/评价A/consolidate", {"method": "trimmed"}).status_code == 303
    page = client.get("/e/评价A", base_url=BASE).get_data(as_text=True)
    from qi_excel.consolidation_step import load_consolidation

    cons = load_consolidation(issued)
    assert cons.method == "trimmed" and len(cons.experts) == 7
    assert f"总分 <strong>{cons.total}</strong> 分" in page
    assert page.count('<rect') == 7 and "<svg" in page
    assert post(client, "/e/评价A/report").status_code == 303
    docx = client.get("/e/评价A/download/report", base_url=BASE)
    assert docx.status_code == 200
    import docx as python_docx

    text = "\n".join(c.text for t in python_docx.Document(io.BytesIO(docx.data)).tables for row in t.rows for c in row.cells)
    assert str(cons.total) in text
    assert post(client, "/e/评价A/archive").status_code == 303
    archive = client.get("/e/评价A/download/archive", base_url=BASE)
    assert archive.status_code == 200
    r = post(client, "/e/评价A/verify", {"archive": (io.BytesIO(archive.data), "档案.zip")},
             content_type="multipart/form-data", follow_redirects=True)
    assert "校验通过" in r.get_data(as_text=True)
    tampered = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(archive.data)) as src, zipfile.ZipFile(tampered, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, data + b" " if info.filename.endswith("汇总表.xlsx") else data)
    r = post(client, "/e/评价A/verify", {"archive": (io.BytesIO(tampered.getvalue()), "档案.zip")},
             content_type="multipart/form-data", follow_redirects=True)
    assert "校验未通过" in r.get_data(as_text=True) and "汇总表.xlsx" in r.get_data(as_text=True)
    listing = client.get("/", base_url=BASE).get_data(as_text=True)
    assert "已归档" in listing and str(cons.total) in listing


def test_issued_files_download_singly_and_as_one_zip(client, issued: Path) -> None:
    r = client.get("/e/评价A/issued.zip", base_url=BASE)
    names = zipfile.ZipFile(io.BytesIO(r.data)).namelist()
    assert len([n for n in names if n.endswith(".xlsx")]) == 7 and len([n for n in names if n.endswith(".eml")]) == 7
    one = client.get("/e/评价A/issued/0/eml", base_url=BASE)
    assert one.status_code == 200 and b"Content-Type: multipart/mixed" in one.data
    assert client.get("/e/评价A/issued/99/xlsx", base_url=BASE).status_code == 404


def test_an_action_refused_by_the_library_shows_its_message(client, issued: Path) -> None:
    r = post(client, "/e/评价A/consolidate", {"method": "mean"}, follow_redirects=True)
    assert r.status_code == 200
    assert "msg msg-error\">专家组 7 人中，" in r.get_data(as_text=True)
    assert "还没有已接收的评分表，不能形成正式汇总结果" in r.get_data(as_text=True)
    r = post(client, "/e/评价A/report", follow_redirects=True)
    assert "还没有汇总结果" in r.get_data(as_text=True)


def test_an_unexpected_error_is_a_chinese_page_without_traceback(client, monkeypatch) -> None:
    from qi_excel.handle import Evaluation

    def boom(self, **kw):
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(Evaluation, "run_consolidation", boom)
    r = post(client, "/e/评价A/consolidate", {"method": "mean"})
    body = r.get_data(as_text=True)
    assert r.status_code == 500 and "意外问题（RuntimeError）" in body
    assert "Traceback" not in body and "/etc/passwd" not in body


# ───────────────────────────── the command ─────────────────────────────


def test_help_does_not_load_the_web_stack() -> None:
    code = ("import sys\nfrom qi_excel.cli import main\ntry:\n main(['--help'])\nexcept SystemExit: pass\n"
            "print('flask' in sys.modules, 'waitress' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False False")
    assert "在浏览器中进行评价" in out


def test_ui_serves_the_printed_address_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "qi_excel", "ui", str(tmp_path / "ws"), "--no-browser"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(3)]
        url = re.search(r"(http://127\.0\.0\.1:\d+/\?token=\S+)", lines[1]).group(1)
        assert lines[0].startswith("评价工作区：") and "Ctrl+C" in lines[2]
        import http.cookiejar

        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        page = opener.open(url, timeout=10).read().decode()
        assert "评价列表" in page and "新建评价" in page
        bare = url.split("?")[0]
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(bare, timeout=10)
        assert err.value.code == 403
    finally:
        proc.send_signal(signal.SIGINT if os.name != "nt" else signal.CTRL_C_EVENT)
        out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0 and "已停止" in out


def test_unrecognised_titles_need_the_confirmation_issue_asks_for(client, workspace: Path) -> None:
    data = _form("职称", 5)
    data["expert_title"][2] = "工程师"
    r = post(client, "/new", data, follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "已建立评价“职称”" in page and "工程师" in page and "确认职称" in page
    r = post(client, "/e/职称/issue", {"kind": "expert"}, follow_redirects=True)
    assert "专家组名单需要确认" in r.get_data(as_text=True)
    assert not list((workspace / "职称" / "发放").glob("*.xlsx"))
    r = post(client, "/e/职称/issue", {"kind": "expert", "accept_titles": "1"}, follow_redirects=True)
    assert "已生成 5 位专家的评分工作簿。" in r.get_data(as_text=True)  # no mail drafts asked for
    assert not list((workspace / "职称" / "发放").glob("*.eml"))
    assert len(list((workspace / "职称" / "发放").glob("*.xlsx"))) == 5


def test_two_uploads_at_once_keep_both_in_the_ledger(app, issued: Path, simulated_returns) -> None:
    import threading

    good, _bad, _corrected, _ = simulated_returns(issued)
    answers: list[int] = []

    def send(files) -> None:
        c = app.test_client()
        c.get(f"/?token={TOKEN}", base_url=BASE)
        answers.append(upload(c, "评价A", files).status_code)

    threads = [threading.Thread(target=send, args=(good[i::2],)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [200, 200]
    ledger = json.loads((issued / "回收" / "ledger.json").read_text(encoding="utf-8"))
    assert sorted(e["status"] for e in ledger["entries"]) == ["accepted"] * 6
    names = json.loads((issued / ".qi" / "web-uploads.json").read_text(encoding="utf-8"))
    assert sorted(names.values()) == sorted(n for n, _ in good)


def test_a_damaged_evaluation_folder_shows_what_is_wrong_never_a_500(client, workspace: Path) -> None:
    folder = workspace / "评价A"
    (folder / "评价项目.xlsx").write_bytes(b"garbage")
    (folder / ".qi" / "consolidation.json").write_text("[]", encoding="utf-8")
    listing = client.get("/", base_url=BASE)
    assert listing.status_code == 200 and "不是有效的 Excel 工作簿" in listing.get_data(as_text=True)
    page = client.get("/e/评价A", base_url=BASE)
    assert page.status_code == 200 and "汇总结果" in page.get_data(as_text=True)
    (folder / "回收").mkdir(exist_ok=True)
    (folder / "回收" / "ledger.json").write_text("{not json", encoding="utf-8")
    page = client.get("/e/评价A", base_url=BASE)
    assert page.status_code == 409 and "ledger.json 已损坏，无法读取回收记录" in page.get_data(as_text=True)


def test_without_javascript_the_upload_form_answers_with_the_page(client, issued: Path) -> None:
    data = {"files": [(io.BytesIO(b"junk"), "随便.xlsx")], "csrf_token": csrf_of(client)}
    r = client.post("/e/评价A/upload", data=data, base_url=BASE, content_type="multipart/form-data")
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" in page
    assert 'class="verdict rejected"' in page and "随便.xlsx" in page


def test_verifying_something_that_is_not_an_archive_names_the_uploaded_file(client, issued: Path) -> None:
    r = post(client, "/e/评价A/verify", {"archive": (io.BytesIO(b"not a zip"), "../档案.zip")},
             content_type="multipart/form-data", follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "档案.zip 不是有效的 zip 文件" in page and "qi-verify-" not in page
    r = post(client, "/e/评价A/verify", {}, follow_redirects=True)
    assert "请选择要校验的评价档案" in r.get_data(as_text=True)


def test_mail_drafts_need_every_expert_s_address_as_in_issue_eml(client, workspace: Path) -> None:
    data = _form("无邮箱", 5)
    data["expert_email"][3] = ""
    assert post(client, "/new", data).status_code == 303
    r = post(client, "/e/无邮箱/issue", {"kind": "expert", "eml": "1"}, follow_redirects=True)
    assert "以下专家没有邮箱，无法生成邮件草稿：第 6 行 专家4" in r.get_data(as_text=True)
    r = post(client, "/e/无邮箱/issue", {"kind": "expert"}, follow_redirects=True)
    assert "已生成 5 位专家的评分工作簿。" in r.get_data(as_text=True)


# ───────────────────────────── 申请材料审查 (clause 6.3) ─────────────────────────────


def test_issue_waits_for_the_review_and_the_page_records_it_later(client, workspace: Path) -> None:
    from qi_excel.evaluation import read_project

    form = _form("整改", 5, review=_review("需整改", deadline="2026-12-20", missing="c"))
    r = post(client, "/new", form, follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "申请材料审查尚未通过" in page and "未提交的材料：c) 工作总结" in page
    review = read_project(workspace / "整改").review
    assert review is not None and review.conclusion == "需整改" and review.deadline == "2026-12-20"
    steps = client.get("/e/整改", base_url=BASE).get_data(as_text=True)
    assert re.search(r'<li class="next">\s*<span class="mark">➜</span>\s*<span class="title">申请材料审查', steps)
    r = post(client, "/e/整改/issue", {"kind": "expert"}, follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "申请材料审查（规范 6.3 条）尚未通过，暂不能向专家发放评分工作簿" in page
    assert "整改期限 2026年12月20日" in page
    assert not list((workspace / "整改" / "发放").glob("*.xlsx"))
    r = post(client, "/e/整改/issue", {"kind": "self"}, follow_redirects=True)  # 6.1 comes first: not held back
    assert "已生成申报单位自我评价记录表" in r.get_data(as_text=True)

    r = post(client, "/e/整改/review-record", _review("符合"), follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "已在 评价项目.xlsx 的“申请材料审查”工作表中记录审查结果" in page and "可以发放专家评分工作簿" in page
    review = read_project(workspace / "整改").review
    assert review is not None and review.passed and review.reviewer == "王审查" and review.review_date == "2026-11-20"
    r = post(client, "/e/整改/issue", {"kind": "expert"}, follow_redirects=True)
    assert "已生成 5 位专家的评分工作簿。" in r.get_data(as_text=True)
    log = client.get("/e/整改/log", base_url=BASE).get_data(as_text=True)
    assert "记录申请材料审查（网页）" in log and "操作记录校验通过" in log


@pytest.mark.parametrize("change, message", [
    ({"review_conclusion": "需整改", "review_deadline": ""}, "审查结论为“需整改”时请填写整改期限"),
    ({"review_deadline": "下周"}, "整改期限“下周”不是有效的日期"),
    ({"remark_b": "=1+1"}, "申请材料 b) 的备注不能以“=”开头"),
    ({"review_conclusion": "通过"}, "审查结论只能选“符合”或“需整改”"),
    ({"material_a": "也许"}, "只能选“是”或“否”"),
])
def test_a_review_the_sheet_would_not_take_is_refused_in_chinese(client, workspace: Path, change, message) -> None:
    r = post(client, "/new", {**_form("坏审查", 5), **change})
    assert r.status_code == 400 and message in r.get_data(as_text=True)
    assert not (workspace / "坏审查").exists()
    project = workspace / "评价A" / "评价项目.xlsx"
    before = project.read_bytes()
    r = post(client, "/e/评价A/review-record", {**_review(), **change}, follow_redirects=True)
    assert r.status_code == 200 and message in r.get_data(as_text=True)
    assert project.read_bytes() == before


def test_a_review_left_blank_is_recorded_later_and_an_upload_takes_the_typed_review(client, workspace: Path) -> None:
    from qi_excel.evaluation import read_project

    blank = {k: "" for k in _review()}
    assert post(client, "/new", _form("未审查", 5, review=blank)).status_code == 303
    assert read_project(workspace / "未审查").review.conclusion == ""
    r = post(client, "/e/未审查/issue", {"kind": "expert"}, follow_redirects=True)
    assert "尚未填写审查结论" in r.get_data(as_text=True)
    sample = (workspace / "评价A" / "评价项目.xlsx").read_bytes()  # the sample: reviewed, 符合
    r = post(client, "/new", {"folder": "上传整改", **_review("需整改", deadline="2027-1-5"),
                              "project": (io.BytesIO(sample), "评价项目.xlsx")}, content_type="multipart/form-data")
    assert r.status_code == 303
    review = read_project(workspace / "上传整改").review
    assert review.conclusion == "需整改" and review.deadline == "2027-01-05"


def test_a_typed_review_needs_the_review_sheet_in_an_uploaded_project(client, workspace: Path) -> None:
    from openpyxl import load_workbook

    wb = load_workbook(workspace / "评价A" / "评价项目.xlsx")
    del wb["申请材料审查"]
    old = io.BytesIO()
    wb.save(old)
    r = post(client, "/new", {"folder": "旧文件", **_review(), "project": (io.BytesIO(old.getvalue()), "评价项目.xlsx")},
             content_type="multipart/form-data")
    assert r.status_code == 400 and "中没有“申请材料审查”工作表，无法写入页面上填写的审查结果" in r.get_data(as_text=True)
    assert not (workspace / "旧文件").exists()
    r = post(client, "/new", {"folder": "旧文件", "project": (io.BytesIO(old.getvalue()), "评价项目.xlsx")},
             content_type="multipart/form-data", follow_redirects=True)
    page = r.get_data(as_text=True)  # made without a review: the page says how to add one, issue refuses
    assert "已建立评价“旧文件”" in page and "无法记录审查结果" in page
    r = post(client, "/e/旧文件/review-record", _review(), follow_redirects=True)
    assert "无法记录审查结果" in r.get_data(as_text=True)
    r = post(client, "/e/旧文件/issue", {"kind": "expert"}, follow_redirects=True)
    assert "没有“申请材料审查”工作表，无法确认申请材料已通过审查" in r.get_data(as_text=True)


# ───────────────────────────── 请假, 催办 ─────────────────────────────


def test_excuse_a_member_with_a_reason_and_undo(client, issued: Path) -> None:
    r = post(client, "/e/评价A/excuse", {"who": "E03", "reason": ""}, follow_redirects=True)
    assert "请填写该专家未参加评价的原因" in r.get_data(as_text=True)
    assert not (issued / ".qi" / "excused.json").exists()
    r = post(client, "/e/评价A/excuse", {"who": "E99", "reason": "出差"}, follow_redirects=True)
    assert r.status_code == 200 and "msg msg-error" in r.get_data(as_text=True)
    r = post(client, "/e/评价A/excuse", {"who": "E03", "reason": "因病未能参加现场考察"}, follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "已登记" in page and "请假：因病未能参加现场考察" in page
    assert "已登记请假，不计入评分，评价报告和档案写明原因：因病未能参加现场考察" in page
    assert "撤销请假" in page and "请假 1 人" in page
    assert post(client, "/e/评价A/excuse", {"who": "E04", "reason": "出差"}).status_code == 303
    r = post(client, "/e/评价A/excuse", {"who": "E05", "reason": "出差"}, follow_redirects=True)
    assert "少于规范 7.2 条要求的 5 人" in r.get_data(as_text=True)
    r = post(client, "/e/评价A/excuse", {"who": "E03", "undo": "1"}, follow_redirects=True)
    assert "已撤销" in r.get_data(as_text=True)
    excused = json.loads((issued / ".qi" / "excused.json").read_text(encoding="utf-8"))
    assert [x["expert_id"] for x in excused["excused"]] == ["E04"]


def test_reminders_are_drafted_and_each_downloads(client, workspace: Path, issued: Path, simulated_returns) -> None:
    good, bad, _corrected, bad_ref = simulated_returns(issued)
    upload(client, "评价A", [good[0], bad])
    r = post(client, "/e/评价A/remind", {"deadline": "12月18日17:00前"}, follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "已生成 6 封催办邮件草稿" in page and "被拒收，需更正" in page and "12月18日17:00前" in page
    links = re.findall(r'href="(/e/[^"]+/reminders/\d+)"', page)
    assert len(links) == 6
    drafts = [client.get(link, base_url=BASE) for link in links]
    assert all(d.status_code == 200 and d.mimetype == "message/rfc822" for d in drafts)
    on_disk = sorted((issued / "催办").glob("*.eml"))
    assert [d.data for d in drafts] == [p.read_bytes() for p in on_disk]  # exactly what remind wrote
    assert sum(p.name.endswith("-更正.eml") for p in on_disk) == 1 and sum(p.name.endswith("-催交.eml") for p in on_disk) == 5
    import email
    from email import policy

    correction = next(p for p in on_disk if p.name.endswith("-更正.eml"))
    body = email.message_from_bytes(correction.read_bytes(), policy=policy.default).get_body(("plain",)).get_content()
    assert bad_ref.split("!")[1] in body  # the rejected cell, for the expert to correct
    assert client.get("/e/评价A/reminders/99", base_url=BASE).status_code == 404
    r = post(client, "/e/评价A/remind", {"deadline": "x" * 61}, follow_redirects=True)
    assert "交回期限太长" in r.get_data(as_text=True)
    new_evaluation(workspace / "未发放", sample=True)
    r = post(client, "/e/未发放/remind", {}, follow_redirects=True)
    assert "还没有发放专家评分工作簿，无需催办" in r.get_data(as_text=True)


# ───────────────────────────── documents, opinion, export, log ─────────────────────────────


def test_procedure_documents_are_generated_and_downloaded(client, issued: Path) -> None:
    import docx as python_docx

    for what, keys in (("review", ["review_record"]), ("plan", ["plan"]), ("signin", ["signin_first", "signin_last"])):
        r = post(client, f"/e/评价A/procedure/{what}", follow_redirects=True)
        assert "已生成" in r.get_data(as_text=True), what
        for key in keys:
            d = client.get(f"/e/评价A/download/{key}", base_url=BASE)
            assert d.status_code == 200 and d.data.startswith(b"PK"), key
            assert python_docx.Document(io.BytesIO(d.data)).paragraphs
    r = post(client, "/e/评价A/procedure/pledge", follow_redirects=True)
    assert "还没有汇总结果" in r.get_data(as_text=True) and not (issued / "持续改进承诺书.docx").exists()
    assert post(client, "/e/评价A/procedure/..%2Fsecret").status_code == 404
    assert post(client, "/e/评价A/procedure/bogus").status_code == 404


@pytest.fixture
def consolidated(client, issued: Path, simulated_returns) -> Path:
    good, _bad, corrected, _ = simulated_returns(issued)
    upload(client, "评价A", [*good, corrected])
    assert post(client, "/e/评价A/consolidate", {"method": "mean"}).status_code == 303
    assert (issued / "专家组意见.docx").is_file()
    return issued


def _edited_opinion(data: bytes, conclusion: str, *, drop: str = "") -> bytes:
    import docx as python_docx

    document = python_docx.Document(io.BytesIO(data))
    paragraphs = document.paragraphs
    start = next(i for i, p in enumerate(paragraphs) if p.text.strip() == "四、评价结论")
    paragraphs[start + 1].text = conclusion
    if drop:
        for p in paragraphs:
            if p.text.strip() == drop:
                p._element.getparent().remove(p._element)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_the_leader_s_opinion_is_uploaded_only_when_its_headings_are_right(client, consolidated: Path) -> None:
    folder = consolidated
    draft = client.get("/e/评价A/download/opinion", base_url=BASE)
    assert draft.status_code == 200
    before = (folder / "专家组意见.docx").read_bytes()
    for data, message in ((b"not a docx", "不是有效的 Word 文档"),
                          (_edited_opinion(draft.data, "结论", drop="二、存在问题"), "找不到标题：二、存在问题")):
        r = post(client, "/e/评价A/opinion", {"opinion": (io.BytesIO(data), "组长修改.docx")},
                 content_type="multipart/form-data", follow_redirects=True)
        page = r.get_data(as_text=True)
        assert message in page and "上传的文件未保存" in page, re.findall(r"msg msg-error\">([^<]*)", page)
        assert (folder / "专家组意见.docx").read_bytes() == before
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("word/document.xml", b"\0" * (101 * 1024 * 1024))
    r = post(client, "/e/评价A/opinion", {"opinion": (io.BytesIO(bomb.getvalue()), "大.docx")},
             content_type="multipart/form-data", follow_redirects=True)
    assert "解压后超过 100 MB" in r.get_data(as_text=True)
    assert (folder / "专家组意见.docx").read_bytes() == before
    r = post(client, "/e/评价A/opinion", {}, follow_redirects=True)
    assert "请选择组长修改定稿的 专家组意见.docx" in r.get_data(as_text=True)
    text = "专家组一致认为该平台建设成效显著，同意通过评价。"
    r = post(client, "/e/评价A/opinion", {"opinion": (io.BytesIO(_edited_opinion(draft.data, text)), "../组长修改.docx")},
             content_type="multipart/form-data", follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "已保存 组长修改.docx 为本评价的 专家组意见.docx" in page and "已是修改后的定稿" in page
    assert not (folder.parent / "组长修改.docx").exists()
    assert post(client, "/e/评价A/report").status_code == 303
    import docx as python_docx

    report = python_docx.Document(str(folder / "评价报告.docx"))
    assert text in [p.text for p in report.paragraphs]
    r = post(client, "/e/评价A/consolidate", {"method": "mean"}, follow_redirects=True)
    assert "已被修改过，未覆盖" in r.get_data(as_text=True)
    assert (folder / "专家组意见（新草稿）.docx").is_file()


def test_export_and_the_operation_log(client, consolidated: Path) -> None:
    r = post(client, "/e/评价A/export", {"fmt": "csv"}, follow_redirects=True)
    assert "行评分数据：评分数据.csv" in r.get_data(as_text=True)
    csv = client.get("/e/评价A/download/export_csv", base_url=BASE)
    assert csv.status_code == 200 and "评价编号" in csv.data.decode("utf-8-sig").splitlines()[0]
    assert post(client, "/e/评价A/export", {"fmt": "xlsx"}).status_code == 303
    assert client.get("/e/评价A/download/export_xlsx", base_url=BASE).data.startswith(b"PK")
    r = post(client, "/e/评价A/export", {"fmt": "../x"}, follow_redirects=True)
    assert "导出格式只能是 csv 或 xlsx" in r.get_data(as_text=True)
    log = client.get("/e/评价A/log", base_url=BASE).get_data(as_text=True)
    assert "操作记录校验通过" in log
    for label in ("发放工作簿", "回收检查", "汇总", "导出评分数据"):
        assert label in log
    assert "T" not in re.search(r"<td class=\"nowrap\">(\d{4}年[^<]+)</td>", log).group(1)
    assert client.get("/e/评价A/log.xlsx", base_url=BASE).data.startswith(b"PK")
    audit = consolidated / ".qi" / "audit.jsonl"
    lines = audit.read_text(encoding="utf-8").splitlines()
    audit.write_text("\n".join(lines[:1] + lines[2:]) + "\n", encoding="utf-8")
    log = client.get("/e/评价A/log", base_url=BASE)
    assert log.status_code == 200 and "操作记录校验未通过" in log.get_data(as_text=True)
    with audit.open("a", encoding="utf-8") as fh:
        fh.write("not json\n[1, 2]\n")
    log = client.get("/e/评价A/log", base_url=BASE)
    assert log.status_code == 200 and log.get_data(as_text=True).count("记录已损坏，无法读取") == 2
    assert client.get("/e/评价A/log.xlsx", base_url=BASE).status_code == 200


NEW_POSTS = ["/e/评价A/review-record", "/e/评价A/procedure/plan", "/e/评价A/excuse", "/e/评价A/remind",
             "/e/评价A/opinion", "/e/评价A/export"]
def test_the_workspace_register_downloads(client, workspace: Path) -> None:
    from openpyxl import load_workbook

    listing = client.get("/", base_url=BASE).get_data(as_text=True)
    assert "下载 评价台账.xlsx" in listing
    r = client.get("/register.xlsx", base_url=BASE)
    assert r.status_code == 200 and r.data.startswith(b"PK")
    values = [c.value for row in load_workbook(io.BytesIO(r.data)).worksheets[0].iter_rows() for c in row]
    assert any(isinstance(v, str) and "评价A" in v for v in values)
    assert not (workspace / "评价台账.xlsx").exists()  # a download, nothing written into the workspace


NEW_GETS = ["/register.xlsx", "/e/评价A/log", "/e/评价A/log.xlsx", "/e/评价A/reminders/0", "/e/评价A/download/plan"]


@pytest.mark.parametrize("path", NEW_POSTS)
def test_new_actions_need_the_token_post_and_csrf(app, client, workspace: Path, path: str) -> None:
    stranger = app.test_client()
    assert stranger.post(path, data={"csrf_token": csrf_of(client)}, base_url=BASE).status_code == 403
    assert client.get(path, base_url=BASE).status_code == 405
    r = client.post(path, data={"who": "E01", "reason": "x", "fmt": "csv"}, base_url=BASE)
    assert r.status_code == 403 and "CSRF" in r.get_data(as_text=True)
    folder = workspace / "评价A"
    assert not (folder / ".qi" / "excused.json").exists() and not (folder / "评价计划.docx").exists()
    assert not (folder / "评分数据.csv").exists()
    assert client.post(path.replace("评价A", ".."), data={"csrf_token": csrf_of(client)}, base_url=BASE).status_code == 404


@pytest.mark.parametrize("path", NEW_GETS)
def test_new_pages_need_the_token(app, path: str) -> None:
    r = app.test_client().get(path, base_url=BASE)
    assert r.status_code == 403 and "评价A" not in r.get_data(as_text=True)


def test_pdf_is_asked_for_like_the_cli_s_pdf_option(client, issued: Path, monkeypatch) -> None:
    from qi_excel import office

    monkeypatch.setattr(office, "soffice_path", lambda: None)
    r = post(client, "/e/评价A/procedure/plan", {"pdf": "1"}, follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "已生成评价计划：评价计划.docx。" in page and "未生成 PDF：本机未找到 LibreOffice" in page
    assert client.get("/e/评价A/download/plan_pdf", base_url=BASE).status_code == 404
    assert client.get("/e/评价A/download/export_csv_pdf", base_url=BASE).status_code == 404
    assert client.get("/e/评价A/download/_pdf", base_url=BASE).status_code == 404


@pytest.mark.office
def test_a_pdf_beside_the_document_downloads(client, issued: Path) -> None:
    from qi_excel import office

    if office.soffice_path() is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    r = post(client, "/e/评价A/procedure/plan", {"pdf": "1"}, follow_redirects=True)
    assert "评价计划.pdf" in r.get_data(as_text=True)
    d = client.get("/e/评价A/download/plan_pdf", base_url=BASE)
    assert d.status_code == 200 and d.mimetype == "application/pdf" and d.data.startswith(b"%PDF")
