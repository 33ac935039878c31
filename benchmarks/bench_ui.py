"""Time the page (``qi-excel ui``): the list of 50 evaluations, and 10 returns dropped at once.

Run from the repository root:
    python3 benchmarks/bench_ui.py [--repeat 5] [--no-browser]
Targets (issue 13): the list renders in under 200 ms with 50 evaluations in the workspace;
uploading 10 returned workbooks shows every verdict in under 2 s. The list is timed through
the real waitress server (cold: first request after start; warm: later requests), the upload
in Debian's headless Chromium from file picker to the tenth verdict on screen (and, without a
browser, as one POST through the server). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import shutil
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from _common import pin_one_core, print_table

from qi_excel import Evaluation, handle  # noqa: E402
from qi_excel.evaluation import Panel, load_issued, sample_info, sample_panel  # noqa: E402
from qi_excel.simulate import fill_workbook, platform_levels, simulated_fill  # noqa: E402
from qi_excel.web.server import make_server  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def ten_experts() -> Panel:
    base = list(sample_panel().experts)
    extra = [replace(base[1], number=n, name=f"专家{n}", email=f"expert{n}@example.com") for n in range(8, 11)]
    return Panel(tuple(base + extra))


def returns(folder: Path, out: Path) -> list[Path]:
    e = Evaluation(folder)
    levels = platform_levels(e.rubric, 3)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, r in enumerate(x for x in load_issued(folder) if x.kind == "expert"):
        fill = simulated_fill(e.rubric, levels, i, sign_name=r.name, sign_date=date(2026, 6, 18),
                              saved_at=datetime(2026, 6, 18, 9, tzinfo=timezone.utc) + timedelta(minutes=i))
        path = out / Path(r.file).name
        path.write_bytes(fill_workbook((folder / r.file).read_bytes(), e.rubric, fill))
        paths.append(path)
    return paths


def build_workspace(ws: Path) -> Path:
    """50 evaluations: half issued, half consolidated with 7 returns; and one 10-expert panel issued."""
    done = Evaluation.new(ws / "模板-已汇总", sample=True)
    done.issue()
    for p in returns(done.path, ws.parent / "交回-模板"):
        shutil.copy(p, done.path / "收件箱")
    done.collect()
    done.consolidate()
    issued = Evaluation.new(ws / "模板-已发放", sample=True)
    issued.issue()
    for i in range(48):
        source = done.path if i % 2 else issued.path
        shutil.copytree(source, ws / f"评价{i + 1:02d}")
    ten = Evaluation.new(ws.parent / "十人", info=sample_info(), panel=ten_experts())
    ten.issue()
    return ten.path


def serve(ws: Path):
    server, url = make_server(ws, 0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    return server, url


def time_list(url: str, repeat: int) -> tuple[float, float]:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    t = time.perf_counter()
    page = opener.open(url).read().decode()  # token → cookie → the list, cold
    cold = time.perf_counter() - t
    assert page.count("<tr>") >= 50, "the list should show 50 evaluations"
    base = url.split("?")[0]
    warm = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        opener.open(base).read()
        warm = min(warm, time.perf_counter() - t)
    return cold, warm


def time_upload_http(url: str, name: str, files: list[Path], opener) -> float:
    import re

    base = url.split("?")[0].rstrip("/")
    page = opener.open(f"{base}/e/{urllib.request.quote(name)}").read().decode()
    csrf = re.search(r'name="csrf-token" content="([0-9a-f]+)"', page).group(1)
    boundary = uuid.uuid4().hex
    body = b""
    body += f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{csrf}\r\n'.encode()
    for f in files:
        body += (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{f.name}"\r\n'
                 "Content-Type: application/octet-stream\r\n\r\n").encode() + f.read_bytes() + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    req = urllib.request.Request(f"{base}/e/{urllib.request.quote(name)}/upload", data=body, method="POST", headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}", "Accept": "application/json"})
    t = time.perf_counter()
    answer = opener.open(req).read()
    elapsed = time.perf_counter() - t
    assert answer.count(b'"status": "accepted"') + answer.count(b'"status":"accepted"') == len(files), answer[:500]
    return elapsed


def time_upload_browser(url: str, name: str, files: list[Path]) -> float:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.goto(url)
        page.goto(url.split("?")[0] + "e/" + urllib.request.quote(name))
        t = time.perf_counter()
        page.set_input_files("#file-input", [str(f) for f in files])
        expect(page.locator("#verdicts .verdict")).to_have_count(len(files), timeout=30_000)
        elapsed = time.perf_counter() - t
        browser.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    print(pin_one_core())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "ws"
        ten = build_workspace(ws)
        sent = returns(ten, Path(tmp) / "交回-十人")
        server, url = serve(ws)
        try:
            cold, warm = time_list(url, args.repeat)
            rows.append(("评价列表，50 个评价（启动后第一次）", f"{cold * 1000:.0f} ms", "< 200 ms"))
            rows.append(("评价列表，50 个评价（再次打开）", f"{warm * 1000:.0f} ms", "< 200 ms"))
            # folders never seen by the handle (made by hand or an older CLI): every 评价项目.xlsx is read once
            for cache in ws.glob(f"*/{handle.SUMMARY_CACHE_FILE}"):
                cache.unlink()
            handle._summary_cache.clear()
            never, _ = time_list(url, 1)
            rows.append(("评价列表，50 个从未列出过的评价（逐个读取评价项目.xlsx，仅一次）", f"{never * 1000:.0f} ms", "—"))
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
            opener.open(url).read()
            best = float("inf")
            for i in range(args.repeat):
                copy = ws / f"十人-{i}"
                shutil.copytree(ten, copy)
                best = min(best, time_upload_http(url, copy.name, sent, opener))
            rows.append(("上传 10 个交回的工作簿，一次 POST 得到全部结论", f"{best * 1000:.0f} ms", "< 2 s"))
            if not args.no_browser and Path(CHROMIUM).is_file():
                copy = ws / "十人-浏览器"
                shutil.copytree(ten, copy)
                seconds = time_upload_browser(url, copy.name, sent)
                rows.append(("同上，在 Chromium 中选择文件到 10 个结论全部显示", f"{seconds * 1000:.0f} ms", "< 2 s"))
        finally:
            server.close()
    print_table(("步骤", "用时", "目标"), rows)


if __name__ == "__main__":
    main()
