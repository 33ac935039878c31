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

from flask import (
    Flask,
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from .. import __version__
from .. import evaluation as ev
from ..errors import QiError
from ..handle import Evaluation, find_evaluations
from . import records, security, uploads, views

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
    "report_new": ("评价报告（新生成）.docx", _DOCX),
    "review_record": ("申请材料审查记录.docx", _DOCX),
    "plan": ("评价计划.docx", _DOCX),
    "signin_first": ("首次会议签到表.docx", _DOCX),
    "signin_last": ("末次会议签到表.docx", _DOCX),
    "pledge": ("持续改进承诺书.docx", _DOCX),
    "opinion": ("专家组意见.docx", _DOCX),
    "opinion_new": ("专家组意见（新草稿）.docx", _DOCX),
    "export_csv": ("评分数据.csv", "text/csv; charset=utf-8"),
    "export_xlsx": ("评分数据.xlsx", _XLSX),
}
# the procedure papers (issue 12): the button's key, the handle method, what the message calls it
PROCEDURE: dict[str, tuple[str, str]] = {
    "review": ("review", "申请材料审查记录"),
    "plan": ("plan", "评价计划"),
    "signin": ("signin", "首次会议、末次会议签到表"),
    "pledge": ("pledge", "持续改进承诺书"),
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

    from ..dates import human_date, human_time

    app.add_template_filter(human_date, "cn_date")
    app.add_template_filter(human_time, "cn_time")

    @app.context_processor
    def _common() -> dict[str, Any]:
        # the footer names the workspace folder; its full path only on hover (no temp paths in pictures)
        return {"csrf": g.get("csrf_token", ""), "version": __version__, "workspace": root.name,
                "workspace_path": str(root)}

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
        return Evaluation(resolved, warm_list_cache=True)
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
    return render_template("new.html", form=views.NewForm.blank(), review_form=views.ReviewForm(), error="")


def new_create() -> Response | str:
    from ..workbook_project import (
        fill_project_workbook,
        fill_review,
        project_template_bytes,
    )

    form = views.NewForm.from_request(request.form)
    review_form = views.ReviewForm.from_request(request.form)
    upload = request.files.get("project")
    try:
        name = _new_folder_name(form.folder)
        target = _workspace() / name
        review = None if review_form.empty else review_form.review()
        if upload is not None and upload.filename:
            data = upload.stream.read(uploads.MAX_PROJECT_BYTES + 1)
            if len(data) > uploads.MAX_PROJECT_BYTES:
                raise QiError("上传的评价项目.xlsx 超过 10 MB，未读取。")
            if review is not None:  # typed on the page: it replaces the upload's own review
                data = _with_review(data, review, fill_review)
        else:
            info, panel = form.project()
            data = fill_project_workbook(project_template_bytes(), info, panel, review)
        evaluation = Evaluation.new(target, project=data)
    except QiError as err:
        return render_template("new.html", form=form, review_form=review_form,  # type: ignore[return-value]
                               error=str(err)), 400
    flash(f"已建立评价“{evaluation.path.name}”。", "ok")
    for warning in evaluation.project.warnings:
        flash(f"请确认：{warning.text}（发放时勾选“确认职称”）", "warn")
    _flash_review(evaluation)
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
        done = evaluation.run_consolidation(method=method, draft=bool(request.form.get("draft")))
        result = done.result
        excused = f"（专家组 {result.panel_members} 人，{len(result.excused)} 人请假）" if result.excused else ""
        flash(f"汇总完成：{len(result.experts)} 位专家{excused}，{result.method_label}，总分 {result.total} 分。", "ok")
        if done.opinion.kept is not None:
            flash(done.opinion.message(), "warn")
        else:
            flash(f"已生成专家组意见草稿 {done.opinion.path.name}：请下载交专家组组长修改定稿，再在“专家组意见”中上传；"
                  "生成评价报告时其中的文字将原样写入。", "ok")
    return _back(name, "consolidate")


def application(name: str) -> Response:
    evaluation = _evaluation(name)
    with _flash_errors():
        pdf = _pdf_wanted()
        written = evaluation.make_application(pdf=pdf)
        flash(f"已生成 {'、'.join(p.name for p in written.paths)}。", "ok")
        _flash_no_pdf(pdf, list(written.paths))
        for note in written.notes:
            flash(note, "warn")
    return _back(name, "documents")


def report(name: str) -> Response:
    evaluation = _evaluation(name)
    draft = bool(request.form.get("draft"))
    with _flash_errors():
        pdf = _pdf_wanted()
        written = evaluation.make_report(draft=draft, pdf=pdf)
        flash(f"已生成 {'、'.join(p.name for p in written.paths)}" + ("（草稿，仅供内部讨论）。" if draft else "，请打印后由专家组成员签字。"), "ok")
        _flash_no_pdf(pdf, list(written.paths))
        for note in written.notes:
            flash(note, "warn")
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
    pdf = what.endswith("_pdf") and DOWNLOADS.get(what[:-4], ("", ""))[1] == _DOCX
    if what not in DOWNLOADS and not pdf:
        abort(404, "没有这个文件。")
    file_name, mimetype = DOWNLOADS[what[:-4]] if pdf else DOWNLOADS[what]
    if pdf:
        file_name, mimetype = str(Path(file_name).with_suffix(".pdf")), "application/pdf"
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


def register_xlsx() -> Response:
    """评价台账.xlsx of the workspace (``qi-excel register``), made fresh for the download."""
    from ..register import REGISTER_FILE, build_register, render_register

    data = render_register(build_register(_workspace()))
    return send_file(io.BytesIO(data), mimetype=_XLSX, as_attachment=True, download_name=REGISTER_FILE)


def review_record(name: str) -> Response:
    """Record (or correct) the application-material review after the folder was made (6.3)."""
    evaluation = _evaluation(name)
    with _flash_errors():
        review = views.ReviewForm.from_request(request.form).review()
        records.record_review(evaluation, review)
        flash(f"已在 {ev.PROJECT_FILE} 的“申请材料审查”工作表中记录审查结果。", "ok")
        _flash_review(evaluation)
    return _back(name, "review")


def procedure(name: str, what: str) -> Response:
    evaluation = _evaluation(name)
    if what not in PROCEDURE:
        abort(404, "没有这个文件。")
    method, label = PROCEDURE[what]
    pdf = _pdf_wanted()
    with _flash_errors():
        paths = getattr(evaluation, method)(pdf=pdf)
        flash(f"已生成{label}：{'、'.join(p.name for p in paths)}。", "ok")
        _flash_no_pdf(pdf, paths)
    return _back(name, "documents")


def excuse(name: str) -> Response:
    """登记请假 / 撤销请假 for one panel member (``qi-excel excuse``)."""
    evaluation = _evaluation(name)
    who = request.form.get("who", "").strip()
    with _flash_errors():
        if not who:
            raise QiError("请选择要登记请假的专家。")
        if request.form.get("undo"):
            done = evaluation.undo_excuse(who)
            flash(f"已撤销 {done.expert}（{done.expert_id}）的请假登记（原因：{done.reason}）。"
                  "正式汇总需要其评分表。", "ok")
        else:
            reason = request.form.get("reason", "")
            if not reason.strip():
                raise QiError("请填写该专家未参加评价的原因（将写入评价报告和评价档案），再点“登记请假”。")
            done = evaluation.excuse(who, reason)
            flash(f"已登记 {done.expert}（{done.expert_id}）请假：{done.reason}。其评分不计入汇总，"
                  "评价报告和档案将写明原因。", "ok")
    return _back(name, "status")


def remind(name: str) -> Response:
    evaluation = _evaluation(name)
    deadline = request.form.get("deadline", "").strip()
    with _flash_errors():
        if len(deadline) > 60:
            raise QiError("交回期限太长，请不超过 60 个字，如“6月18日17:00前”。")
        result = evaluation.remind(deadline=deadline or None)
        if not result.reminders:
            flash("无需催办：每位专家的评分工作簿都已接收（或已登记请假）。", "ok")
        else:
            lines = []
            for r in result.reminders:
                what = ("尚未交回" if r.reason == "missing"
                        else f"被拒收，需更正 {sum(1 for f in r.findings if f.severity == 'error')} 项")
                lines.append(f"{r.expert}（{r.expert_id}）{what}")
            flash(f"已生成 {len(result.reminders)} 封催办邮件草稿，请下载后双击打开检查再发送：\n" + "\n".join(lines)
                  + (f"\n邮件中的交回期限：{result.deadline}" if result.deadline else ""), "ok")
        for line in result.skipped:
            flash(f"注意：{line}", "warn")
    return _back(name, "status")


def reminder_file(name: str, index: int) -> Response:
    evaluation = _evaluation(name)
    files = views.reminder_files(evaluation)
    if not 0 <= index < len(files):
        abort(404, "没有这封催办邮件草稿，请刷新页面。")
    return send_file(files[index], mimetype="message/rfc822", as_attachment=True, download_name=files[index].name)


def opinion_upload(name: str) -> Response:
    """The leader's edited 专家组意见.docx: stored only if the report's reader accepts it."""
    evaluation = _evaluation(name)
    upload = request.files.get("opinion")
    with _flash_errors():
        if upload is None or not upload.filename:
            raise QiError("请选择组长修改定稿的 专家组意见.docx。")
        shown = uploads.display_name(upload.filename)
        data = upload.stream.read(records.MAX_DOCX_BYTES + 1)
        records.store_opinion(evaluation, data, shown)
        flash(f"已保存 {shown} 为本评价的 专家组意见.docx（四个标题齐全）。重新生成评价报告后，"
              "其中的文字将逐段写入报告的“五、专家组意见”和“六、评价结论”。", "ok")
    return _back(name, "opinion")


def export(name: str) -> Response:
    evaluation = _evaluation(name)
    fmt = request.form.get("fmt", "csv")
    with _flash_errors():
        if fmt not in ("csv", "xlsx"):
            raise QiError("导出格式只能是 csv 或 xlsx。")
        path, rows = evaluation.export(fmt=fmt)
        flash(f"已导出 {rows} 行评分数据：{path.name}。", "ok")
    return _back(name, "export")


def log_page(name: str) -> str:
    evaluation = _evaluation(name)
    check = evaluation.log()
    rows = views.log_rows(evaluation.log_lines())
    return render_template("log.html", name=name, e=evaluation, check=check, rows=rows)


def log_xlsx(name: str) -> Response:
    from ..audit import render_readable

    evaluation = _evaluation(name)
    data = render_readable(evaluation.log_lines(), evaluation.log())
    return send_file(io.BytesIO(data), mimetype=_XLSX, as_attachment=True, download_name="操作记录.xlsx")


ROUTES: tuple[tuple[str, Any, str], ...] = (
    ("/", index, "GET"),
    ("/new", new_form, "GET"),
    ("/new", new_create, "POST"),
    ("/blank-project", blank_project, "GET"),
    ("/register.xlsx", register_xlsx, "GET"),
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
    ("/e/<name>/review-record", review_record, "POST"),
    ("/e/<name>/procedure/<what>", procedure, "POST"),
    ("/e/<name>/excuse", excuse, "POST"),
    ("/e/<name>/remind", remind, "POST"),
    ("/e/<name>/reminders/<int:index>", reminder_file, "GET"),
    ("/e/<name>/opinion", opinion_upload, "POST"),
    ("/e/<name>/export", export, "POST"),
    ("/e/<name>/log", log_page, "GET"),
    ("/e/<name>/log.xlsx", log_xlsx, "GET"),
)


def _routes(app: Flask) -> None:
    for rule, view, method in ROUTES:
        app.add_url_rule(rule, endpoint=view.__name__, view_func=view, methods=[method])


def _with_review(data: bytes, review: Any, fill: Any) -> bytes:
    """An uploaded 评价项目.xlsx with the review typed on the page written into it."""
    try:
        return bytes(fill(data, review))
    except KeyError:  # the upload has no 申请材料审查 sheet
        raise QiError(f"上传的 {ev.PROJECT_FILE} 中没有“申请材料审查”工作表，无法写入页面上填写的审查结果。"
                      f"请下载空白 {ev.PROJECT_FILE}，把“基本信息”和“专家组”复制进去后重新上传。") from None
    except QiError:
        raise
    except Exception:  # noqa: BLE001 - not a workbook at all: the reader below says so in its words
        return data


def _pdf_wanted() -> bool:
    return bool(request.form.get("pdf"))


def _flash_no_pdf(pdf: bool, paths: list[Path]) -> None:
    """As the CLI says after --pdf: a PDF needs LibreOffice on this computer."""
    if pdf and not any(p.suffix.lower() == ".pdf" for p in paths):
        flash("未生成 PDF：本机未找到 LibreOffice（soffice）。安装 LibreOffice 后重新生成，或在 Word/WPS 中“另存为 PDF”。", "warn")


def _flash_review(evaluation: Evaluation) -> None:
    """Say at once whether the review lets the workbooks go out (the gate of ``issue``)."""
    try:
        review = evaluation.project.review
    except QiError:
        return
    if review is None:
        return
    problems = review.gate_problems()
    if problems:
        flash("申请材料审查尚未通过（规范 6.3 条），暂不能向专家发放评分工作簿：\n" + "\n".join(problems), "warn")
    else:
        flash("申请材料审查结论为“符合”，可以发放专家评分工作簿。", "ok")


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
