"""The Flask application: routes that parse a request, call the handle, render a page.

No scoring, checking or document logic lives here: each action is one ``Evaluation`` method
(or ``Evaluation.new``). What the page adds is presentation — which step is next, a next
action per expert in words, the chart's geometry.
"""

from __future__ import annotations

import io
import re
import tempfile
from pathlib import Path
from typing import Any

from flask import Flask, abort, flash, g, jsonify, redirect, render_template, request, send_file, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from .. import __version__
from .. import evaluation as ev
from ..errors import QiError
from ..handle import Evaluation, find_evaluations
from . import security, uploads, views

MAX_CONTENT_LENGTH = 120 * 1024 * 1024  # one request: 50 returns of a few MB each, generously
_FOLDER_BAD = re.compile(r"[\x00-\x1f\x7f<>:\"/\\|?*]")
_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# what the page may download from an evaluation folder: a fixed list, never a path from the request
DOWNLOADS: dict[str, tuple[str, str]] = {
    "project": (ev.PROJECT_FILE, _XLSX),
    "check_report": (ev.CHECK_REPORT_FILE, _XLSX),
    "summary": (ev.SUMMARY_FILE, _XLSX),
    "application": (ev.APPLICATION_FILE, _DOCX),
    "report": (ev.REPORT_FILE, _DOCX),
    "report_draft": ("评价报告（草稿）.docx", _DOCX),
}


def create_app(workspace: str | Path, *, token: str | None = None, port: int | None = None) -> Flask:
    """The page over ``workspace`` (the folder holding evaluation folders).

    ``port`` is what the Host header must name; the ``ui`` command sets it once the server
    has its port.
    """
    root = Path(workspace).resolve()
    root.mkdir(parents=True, exist_ok=True)
    app = Flask(__name__)
    app.config.update(
        QI_WORKSPACE=root,
        QI_TOKEN=token or security.new_token(),
        QI_PORT=port,
        SECRET_KEY=security.new_token(),
        MAX_CONTENT_LENGTH=MAX_CONTENT_LENGTH,
        MAX_FORM_PARTS=uploads.MAX_FILES + 200,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_NAME=f"qi_excel_session_{port}" if port else "qi_excel_session",
        TEMPLATES_AUTO_RELOAD=False,
    )
    security.install(app)
    _routes(app)
    _errors(app)

    @app.context_processor
    def _common() -> dict[str, Any]:
        return {"csrf": g.get("csrf_token", ""), "version": __version__, "workspace": root}

    return app


def _workspace() -> Path:
    return Path(current_config("QI_WORKSPACE"))


def current_config(key: str) -> Any:
    from flask import current_app

    return current_app.config[key]


def _evaluation(name: str) -> Evaluation:
    """The evaluation folder ``name`` of the workspace, or 404: never a path outside it."""
    root = _workspace()
    known = {p.name: p for p in find_evaluations(root)}
    path = known.get(name)
    if path is None:
        abort(404, f"工作区中没有名为“{name}”的评价。")
    resolved = path.resolve()
    if resolved.parent != root or not resolved.is_dir():
        abort(404, f"工作区中没有名为“{name}”的评价。")
    try:
        return Evaluation(resolved)
    except QiError as err:
        abort(404, str(err))


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json" or request.headers.get("X-Requested-With") == "fetch"


# ───────────────────────────── the pages and actions (registered in ROUTES) ─────────────────────────────


def index() -> str:
    items = []
    for path in find_evaluations(_workspace()):
        try:
            items.append(Evaluation(path).summary())
        except QiError as err:
            items.append(views.broken_summary(path, str(err)))
    return render_template("list.html", items=items, stages=views.STAGE_CLASSES)


def new_form() -> str:
    return render_template("new.html", form=views.NewForm.blank(), error="")


def new_create() -> Response | str:
    form = views.NewForm.from_request(request.form)
    upload = request.files.get("project")
    try:
        name = _new_folder_name(form.folder)
        target = _workspace() / name
        if upload is not None and upload.filename:
            data = upload.stream.read(uploads.MAX_PROJECT_BYTES + 1)
            if len(data) > uploads.MAX_PROJECT_BYTES:
                raise QiError("上传的评价项目.xlsx 超过 10 MB，未读取。")
            evaluation = Evaluation.new(target, project=data)
        else:
            info, panel = form.project()
            evaluation = Evaluation.new(target, info=info, panel=panel)
    except QiError as err:
        return render_template("new.html", form=form, error=str(err)), 400  # type: ignore[return-value]
    flash(f"已建立评价“{evaluation.path.name}”。", "ok")
    for warning in evaluation.project.warnings:
        flash(f"请确认：{warning.text}（发放时勾选“确认职称”）", "warn")
    return redirect(url_for("evaluation_page", name=evaluation.path.name), code=303)


def blank_project() -> Response:
    from ..workbook_project import project_template_bytes

    return send_file(io.BytesIO(project_template_bytes()), mimetype=_XLSX, as_attachment=True,
                     download_name=ev.PROJECT_FILE)


def evaluation_page(name: str) -> str:
    evaluation = _evaluation(name)
    return render_template("evaluation.html", **views.evaluation_context(evaluation, DOWNLOADS))


def issue(name: str) -> Response:
    evaluation = _evaluation(name)
    own = request.form.get("kind") == "self"
    with _flash_errors():
        eml = bool(request.form.get("eml"))
        result = evaluation.issue(eml=eml, accept_titles=bool(request.form.get("accept_titles")), self_eval=own)
        what = "申报单位自我评价记录表" if own else f" {len(result.records)} 位专家的评分工作簿"
        what += "和邮件草稿" if eml else ""
        flash(f"已生成{what}。", "ok")
    return _back(name, "issue")


def issued_zip(name: str) -> Response:
    evaluation = _evaluation(name)
    buf = io.BytesIO(evaluation.issued_zip())
    return send_file(buf, mimetype="application/zip", as_attachment=True,
                     download_name=f"{name}-评分工作簿.zip")


def issued_file(name: str, index: int, kind: str) -> Response:
    evaluation = _evaluation(name)
    records = evaluation.latest_issued()
    if not 0 <= index < len(records) or kind not in ("xlsx", "eml"):
        abort(404, "没有这个文件。")
    paths = {p.suffix[1:]: p for p in evaluation.issued_paths(records[index])}
    if kind not in paths:
        abort(404, "没有这个文件。")
    mimetype = _XLSX if kind == "xlsx" else "message/rfc822"
    return send_file(paths[kind], mimetype=mimetype, as_attachment=True, download_name=paths[kind].name)


def upload(name: str) -> Response | str:
    evaluation = _evaluation(name)
    files = [uploads.Upload(f.filename or "", f.stream) for f in request.files.getlist("files") if f.filename]
    try:
        verdicts = uploads.receive(evaluation, files)
    except QiError as err:
        if _wants_json():
            return jsonify({"error": str(err)}), 400  # type: ignore[return-value]
        flash(str(err), "error")
        return _back(name, "collect")
    if _wants_json():
        fresh = Evaluation(evaluation.path)
        ctx = views.evaluation_context(fresh, DOWNLOADS)
        return jsonify({
            "verdicts": [v.to_json() for v in verdicts],
            "status_html": render_template("_status.html", **ctx),
            "steps_html": render_template("_steps.html", **ctx),
            "stage": ctx["stage"], "stage_class": ctx["stage_class"],
        })
    ctx = views.evaluation_context(Evaluation(evaluation.path), DOWNLOADS)
    ctx["verdicts"] = [v.to_json() for v in verdicts]
    return render_template("evaluation.html", **ctx)


def consolidate(name: str) -> Response:
    evaluation = _evaluation(name)
    method = request.form.get("method", "mean")
    if method not in views.METHOD_CHOICES:
        method = "mean"
    with _flash_errors():
        result = evaluation.consolidate(method=method, draft=bool(request.form.get("draft")))
        flash(f"汇总完成：{len(result.experts)} 位专家，{result.method_label}，总分 {result.total} 分。", "ok")
    return _back(name, "consolidate")


def application(name: str) -> Response:
    evaluation = _evaluation(name)
    with _flash_errors():
        evaluation.application()
        flash(f"已生成 {ev.APPLICATION_FILE}。", "ok")
    return _back(name, "documents")


def report(name: str) -> Response:
    evaluation = _evaluation(name)
    draft = bool(request.form.get("draft"))
    with _flash_errors():
        paths = evaluation.report(draft=draft)
        flash(f"已生成 {paths[0].name}" + ("（草稿，仅供内部讨论）。" if draft else "，请打印后由专家组成员签字。"), "ok")
    return _back(name, "documents")


def archive(name: str) -> Response:
    evaluation = _evaluation(name)
    with _flash_errors():
        path = evaluation.archive()
        flash(f"已生成评价档案 {path.name}。", "ok")
    return _back(name, "documents")


def download(name: str, what: str) -> Response:
    evaluation = _evaluation(name)
    if what == "archive":
        archives = evaluation.archives()
        if not archives:
            abort(404, "还没有生成评价档案。")
        return send_file(archives[-1], mimetype="application/zip", as_attachment=True,
                         download_name=archives[-1].name)
    if what not in DOWNLOADS:
        abort(404, "没有这个文件。")
    file_name, mimetype = DOWNLOADS[what]
    path = evaluation.path / file_name
    if not path.is_file():
        abort(404, f"还没有生成 {file_name}。")
    return send_file(path, mimetype=mimetype, as_attachment=True, download_name=file_name)


def verify(name: str) -> Response:
    evaluation = _evaluation(name)
    upload = request.files.get("archive")
    if upload is None or not upload.filename:
        flash("请选择要校验的评价档案（.zip）。", "error")
        return _back(name, "verify")
    shown = uploads.display_name(upload.filename)
    with tempfile.TemporaryDirectory(prefix="qi-verify-") as tmp:
        target = Path(tmp) / "archive.zip"
        upload.save(target)
        try:
            problems = evaluation.verify_archive(target)
        except QiError as err:
            flash(f"{shown}：{str(err).replace(str(target), shown).replace(target.name, shown)}", "error")
            return _back(name, "verify")
    if problems:
        flash(f"档案 {shown} 校验未通过，发现 {len(problems)} 个问题：\n" + "\n".join(problems), "error")
    else:
        flash(f"档案 {shown} 校验通过：所有文件与清单一致，清单签名已用本评价的密钥核对无误。", "ok")
    return _back(name, "verify")


ROUTES: tuple[tuple[str, Any, str], ...] = (
    ("/", index, "GET"),
    ("/new", new_form, "GET"),
    ("/new", new_create, "POST"),
    ("/blank-project", blank_project, "GET"),
    ("/e/<name>", evaluation_page, "GET"),
    ("/e/<name>/issue", issue, "POST"),
    ("/e/<name>/issued.zip", issued_zip, "GET"),
    ("/e/<name>/issued/<int:index>/<kind>", issued_file, "GET"),
    ("/e/<name>/upload", upload, "POST"),
    ("/e/<name>/consolidate", consolidate, "POST"),
    ("/e/<name>/application", application, "POST"),
    ("/e/<name>/report", report, "POST"),
    ("/e/<name>/archive", archive, "POST"),
    ("/e/<name>/download/<what>", download, "GET"),
    ("/e/<name>/verify", verify, "POST"),
)


def _routes(app: Flask) -> None:
    for rule, view, method in ROUTES:
        app.add_url_rule(rule, endpoint=view.__name__, view_func=view, methods=[method])


def _back(name: str, anchor: str) -> Response:
    return redirect(url_for("evaluation_page", name=name, _anchor=anchor), code=303)


class _flash_errors:
    """A QiError from an action becomes a message on the page it came from."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, err: BaseException | None, tb: object) -> bool:
        if isinstance(err, QiError):
            flash(str(err), "error")
            return True
        return False


def _new_folder_name(text: str) -> str:
    name = " ".join(text.split())
    if not name:
        raise QiError("请填写评价名称（用作评价文件夹的名字）。")
    if len(name) > 60 or _FOLDER_BAD.search(name) or name.startswith(".") or name.endswith("."):
        raise QiError("评价名称不能超过 60 个字，不能以“.”开头或结尾，不能包含 \\ / : * ? \" < > | 等字符。")
    root = _workspace()
    target = (root / name)
    if target.resolve().parent != root:
        raise QiError("评价名称无效。")
    if target.exists():
        raise QiError(f"工作区中已有“{name}”，请换一个名称。")
    return name


def _errors(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http(err: HTTPException) -> tuple[Response | str, int]:
        code = err.code or 500
        message = views.http_message(err)
        if _wants_json():
            return jsonify({"error": message}), code
        return render_template("error.html", code=code, message=message), code

    @app.errorhandler(QiError)
    def _qi(err: QiError) -> tuple[Response | str, int]:
        # a folder problem met while showing a page (an action's QiError is flashed instead)
        if _wants_json():
            return jsonify({"error": str(err)}), 409
        return render_template("error.html", code=409, message=str(err)), 409

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> tuple[Response | str, int]:
        app.logger.exception("unexpected error")  # to the console the organizer started; never to the page
        message = f"处理请求时出现意外问题（{type(err).__name__}），未完成。请重试；如仍出现，请把启动窗口中的信息发给技术支持。"
        if _wants_json():
            return jsonify({"error": message}), 500
        return render_template("error.html", code=500, message=message), 500
