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

from qi_excel.evaluation import new_evaluation  # noqa: E402
from qi_excel.web import create_app  # noqa: E402
from qi_excel.web import uploads  # noqa: E402

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


def _form(folder: str, experts: int, *, titles: str = "教授") -> dict:
    data: dict = {"folder": folder, "service_name": "岳麓区质量基础设施“一站式”服务", "applicant": "岳麓区服务中心",
                  "evaluation_date": "2026-12-01"}
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
    from qi_excel.consolidate import load_consolidation

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

    monkeypatch.setattr(Evaluation, "consolidate", boom)
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
