"""The evaluation folder: what the organizer fills in (评价项目.xlsx), the panel, and secrets.

CONTRACT (other modules rely on these names; the workbook issue fills in the rest):

Folder layout, all names relative to the evaluation folder DIR:
  评价项目.xlsx          sheets 基本信息 and 专家组, filled by the organizer
  保护密码.txt           the sheet/workbook protection password, for the organizer
  .qi/secret.json        {"evaluation_id", "hmac_key" (hex), "password"}; never sent out
  .qi/rubric.toml        the rubric this evaluation uses, frozen at `new` (an upgrade of qi-excel
                         that corrects the shipped rubric must not invalidate workbooks already out)
  .qi/issued.json        what `issue` wrote: [{"expert_id", "name", "file", "kind", "issued_at", "sha256"}]
  .qi/binding.json       written at the first `issue`, signed with the key: the service, applicant and
                         year the key belongs to, and the rubric copy's fingerprint (folder_state.py)
  .qi/consolidation.json the last consolidation, signed with the key
  .qi/cache-rubric.json, .qi/cache-project.json
                         the parsed rubric copy and roster, keyed by the SHA-256 of the bytes parsed
                         and signed with the key; written by issue/collect, never trusted otherwise
                         (derived_cache.py): collect and status skip parsing
  .qi/excused.json       members excused by `excuse`: {"excused": [{"expert_id", "expert", "reason"}]}
  .qi/rendered.json      per document written: its SHA-256 and the consolidation's it came from
                         (docx_render.py); an edited 专家组意见.docx or 评价报告.docx is never overwritten
  发放/                  issued workbooks (and .eml drafts)
  收件箱/                default place `collect` reads from
  回收/                  accepted originals under content-hash names + 回收/ledger.json
  检查报告.xlsx, 汇总表.xlsx, 专家组意见.docx, 评价申请表.docx, 评价报告.docx, 评价档案-*.zip
"""

from __future__ import annotations

import datetime
import json
import re
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from .errors import QiError
from .fileio import write_bytes_atomic, write_text_atomic
from .lazy_re import lazy_re
# The records and roster rules live in project.py (the bottom layer); re-exported for the
# many readers that take them from here with the folder functions.
from .project import (  # noqa: F401
    ACCEPTED_DIR as ACCEPTED_DIR,
    APPLICATION_FILE as APPLICATION_FILE,
    CHECK_REPORT_FILE as CHECK_REPORT_FILE,
    CONSOLIDATION_FILE as CONSOLIDATION_FILE,
    EvaluationInfo as EvaluationInfo,
    Expert as Expert,
    INBOX_DIR as INBOX_DIR,
    INFO_FIELDS as INFO_FIELDS,
    INFO_SHEET as INFO_SHEET,
    ISSUED_FILE as ISSUED_FILE,
    ISSUE_DIR as ISSUE_DIR,
    IssuedRecord as IssuedRecord,
    LEADER as LEADER,
    LEDGER_FILE as LEDGER_FILE,
    MAX_EXPERTS as MAX_EXPERTS,
    MEMBER as MEMBER,
    MIN_EXPERTS as MIN_EXPERTS,
    PANEL_COLUMNS as PANEL_COLUMNS,
    PANEL_SHEET as PANEL_SHEET,
    PASSWORD_FILE as PASSWORD_FILE,
    PROJECT_FILE as PROJECT_FILE,
    Project as Project,
    Panel as Panel,
    PanelProblem as PanelProblem,
    REPORT_FILE as REPORT_FILE,
    RUBRIC_FILE as RUBRIC_FILE,
    SECRET_FILE as SECRET_FILE,
    SELF_ID as SELF_ID,
    STATE_DIR as STATE_DIR,
    SUMMARY_FILE as SUMMARY_FILE,
    Secret as Secret,
    check_panel as check_panel,
    folder_path as folder_path,
    is_email as is_email,
    is_senior_title as is_senior_title,
    raise_panel_problems as raise_panel_problems,
)

if TYPE_CHECKING:
    from .review import MaterialReview
    from .rubric import Rubric


_PANEL_ALIASES = {
    "编号": "number", "专家姓名": "name", "职称/职务": "title", "职务": "title", "单位": "employer",
    "专业": "field", "联系电话": "phone", "手机": "phone", "电子邮箱": "email", "邮件": "email",
    "email": "email", "组内角色": "role", "专家组职务": "role",
}

_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_ROLE_ALIASES = {"组员": MEMBER, "专家组组长": LEADER, "专家组成员": MEMBER}
# compiled on first use (costly to compile: a fresh `status` need not pay for it on import)
_CJK_GAP = lazy_re(r"(?<=[\u3400-\u9fff])\s+(?=[\u3400-\u9fff])")


def person_name(text: str) -> str:
    """A roster name without the spaces Chinese forms put inside two-character names (王  芳)."""
    if not any(c.isspace() for c in text):
        return text  # nothing to remove: skip the regex (and compiling it)
    return _CJK_GAP.sub("", text)


def email_text(text: str) -> str:
    """An address as typed with a Chinese IME: full-width ＠ and ． become ASCII."""
    text = unicodedata.normalize("NFKC", text).replace("。", ".").strip()
    return text[7:] if text.lower().startswith("mailto:") else text


def cell_text(value: object, *, multiline: bool = False) -> str:
    """What the organizer sees in a cell, as clean text (numbers and dates as typed)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, datetime.datetime):
        if value.time() == datetime.time(0, 0):
            return value.date().isoformat()
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, datetime.time):
        return value.strftime("%H:%M")
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    text = _CONTROL_RE.sub("", str(value)).replace("\r\n", "\n").replace("\r", "\n")
    if multiline:
        return "\n".join(line.strip() for line in text.strip().split("\n"))
    return " ".join(text.split())


def _open_project(path: Path, data: bytes | None = None) -> Any:
    """评价项目.xlsx through the project's light reader (``xlsx_read``), not openpyxl.

    Every command reads it, and ``collect``/``status`` are where a person waits; the file is
    also untrusted (a colleague's copy), so only the sheets' real extent is read. ``data``:
    the file's bytes, already read (see ``_project_bytes``).
    """
    from .xlsx_read import open_book

    if data is not None:
        return open_book(path, data=data)
    if not path.is_file():
        raise QiError(f"找不到 {path}：请先用 qi-excel new 建立评价目录，或检查目录是否正确。")
    return open_book(path)


_PROJECT_BYTES_CAP = 20 * 1024 * 1024  # below open_book's own limit: a bigger file takes the plain path


def _project_bytes(path: Path) -> bytes | None:
    """The bytes of 评价项目.xlsx, read once so that what is parsed is what the cache is keyed
    by; None when it cannot be read simply (the plain path then reports why, as ever)."""
    try:
        with path.open("rb") as fh:
            data = fh.read(_PROJECT_BYTES_CAP + 1)
    except OSError:
        return None
    return data if len(data) <= _PROJECT_BYTES_CAP else None


def _sheet(wb: Any, title: str, source: str) -> Any:
    if title not in wb.sheetnames:
        raise QiError(f"{source} 缺少工作表“{title}”（现有：{'、'.join(wb.sheetnames)}）。")
    return wb.sheet(title)


# 基本信息 rows that hold a date (with a time and place after it, as typed)
_DATE_FIELDS = frozenset({"application_date", "evaluation_date", "first_meeting", "site_visit",
                          "internal_meeting", "last_meeting"})


def _info_value(value: object, attr: str) -> object:
    """A date typed into a General cell is stored as its serial number (45826): read it as the
    date Excel would show once formatted, with Excel's calendar (serial 60 is 1900-02-29)."""
    from .xlsx_read import excel_date

    if attr in _DATE_FIELDS and isinstance(value, (int, float)) and not isinstance(value, bool) and 1 <= value < 2958466:
        return excel_date(value) or value
    return value


def read_info(wb: Any, source: str = PROJECT_FILE) -> EvaluationInfo:
    """基本信息 by label in column A, so rows the organizer inserts or moves do not matter."""
    ws = _sheet(wb, INFO_SHEET, source)
    values: dict[str, str] = {}
    cells: dict[str, str] = {}
    formulas: dict[str, str] = {}
    labels = {label: (attr, required) for label, attr, required, _ in INFO_FIELDS}
    for r, row in ws.iter_rows(1, 200):
        label = cell_text(row[0] if row else None).replace("*", "").replace("＊", "").replace(" ", "").rstrip("：:")
        if label in labels and labels[label][0] not in values:
            attr = labels[label][0]
            value = _info_value(row[1] if len(row) > 1 else None, attr)
            values[attr] = cell_text(value, multiline=(attr in _MULTILINE))
            if attr in ("head_email", "contact_email"):
                values[attr] = email_text(values[attr])
            cells[attr] = f"B{r}"
            formula = ws.uncached_formula(r, 2)
            if formula is not None:
                formulas[attr] = formula
    missing = [label for label, attr, required, _ in INFO_FIELDS if required and not values.get(attr)]
    if missing:
        def where(label: str, attr: str) -> str:
            if attr not in cells:
                return f"{label}（找不到这一行）"
            if attr in formulas:
                return (f"{label}（{cells[attr]} 是公式 ={formulas[attr][:60]}，文件中没有保存它的计算结果；"
                        "请在 Excel/WPS 中打开后保存，或直接填写文字）")
            return f"{label}（{cells[attr]}）"

        text = "、".join(where(label, attr) for label, attr, _, _ in INFO_FIELDS if label in missing)
        raise QiError(f"{source} 工作表“{INFO_SHEET}”中必填项为空：{text}。")
    return EvaluationInfo(**{attr: values.get(attr, "") for _, attr, _, _ in INFO_FIELDS})


_MULTILINE = {"goals", "self_summary", "address"}


def _column_text(row: Sequence[object], i: int | None) -> str:
    return cell_text(row[i]) if i is not None and i < len(row) else ""


def read_panel(wb: Any, source: str = PROJECT_FILE) -> tuple[list[Expert], list[int], list[PanelProblem]]:
    """Roster rows of 专家组 with their Excel rows; blank rows (only a 序号) are skipped.

    Hidden rows that name an expert are reported (the expert would be issued a workbook the
    organizer cannot see), and so is content far below the roster that was not read.
    """
    from .xlsx_read import EMPTY_RUN, MAX_ROWS

    ws = _sheet(wb, PANEL_SHEET, source)
    wanted = dict((h, a) for h, a in PANEL_COLUMNS) | _PANEL_ALIASES
    header_row = None
    columns: dict[str, int] = {}
    for r, row in ws.iter_rows(1, 10):
        found = {}
        for i, value in enumerate(row):
            key = cell_text(value).replace(" ", "").replace("*", "")
            if key in wanted and wanted[key] not in found:
                found[wanted[key]] = i
        if "name" in found:
            header_row, columns = r, found
            break
    if header_row is None:
        raise QiError(f"{source} 工作表“{PANEL_SHEET}”中找不到表头行（应含“姓名”“职称”“角色”等列）。")
    absent = [h for h, a in PANEL_COLUMNS if a not in columns and a in ("number", "name", "title", "role")]
    if absent:
        raise QiError(f"{source} 工作表“{PANEL_SHEET}”的表头（第 {header_row} 行）缺少列：{'、'.join(absent)}。")
    experts: list[Expert] = []
    rows: list[int] = []
    problems: list[PanelProblem] = []
    for r, row in ws.iter_rows(header_row + 1):
        fields = {a: _column_text(row, columns.get(a)) for _, a in PANEL_COLUMNS}
        if not any(v for a, v in fields.items() if a != "number"):
            continue  # blank row (the template pre-numbers rows)
        if r in ws.hidden_rows:
            problems.append(PanelProblem(
                r, f"这一行被隐藏了，但填有专家“{fields['name'] or fields['number']}”：隐藏行中的专家同样会收到评分表。"
                   "请取消隐藏后确认该专家参加评价，或删除这一行"))
        raw_number = fields["number"]
        try:
            number = int(raw_number)
        except ValueError:
            problems.append(PanelProblem(r, f"序号“{raw_number}”应为 1~{MAX_EXPERTS} 的整数" if raw_number else "序号为空"))
            continue
        role = _ROLE_ALIASES.get(fields["role"], fields["role"]) or MEMBER
        experts.append(Expert(number, person_name(fields["name"]), fields["title"], fields["employer"],
                              fields["field"], fields["phone"], email_text(fields["email"]), role))
        rows.append(r)
    if ws.truncated:
        problems.append(PanelProblem(
            None, f"第 {ws.last_row} 行之后还有内容，但与名单相隔超过 {EMPTY_RUN} 个空行（或名单超过 {MAX_ROWS} 行），"
                  "没有读取。请删除名单下方无关的内容，名单须连续填写"))
    from .project import reasons_from_rows  # the optional 未参加原因 column

    dense = (ws.rows.get(r, ()) for r in range(1, ws.last_row + 1))
    reasons = reasons_from_rows(dense)
    experts = [e._replace(excused=reasons.get(r, "")) for e, r in zip(experts, rows)]
    return experts, rows, problems


def read_project(folder: str | Path, *, with_review: bool = True) -> Project:
    """Everything 评价项目.xlsx says; ``with_review=False`` leaves 申请材料审查 unread (``review``
    is then None): ``collect`` and ``status`` need only 基本信息 and the roster."""
    path = Path(folder) / PROJECT_FILE
    data = _project_bytes(path)
    wb = _open_project(path, data)
    info = read_info(wb)
    experts, rows, problems = read_panel(wb)
    review = _read_review(wb) if with_review else None
    problems = problems + check_panel(experts, rows)
    order = sorted(range(len(experts)), key=lambda i: experts[i].number)
    project = Project(
        info,
        tuple(experts[i] for i in order),
        tuple(rows[i] for i in order),
        tuple(problems),
        review,
    )
    if data is not None:
        _remember("project", folder, _sha256(data), project._replace(review=None))
    return project


def _read_review(wb: Any) -> MaterialReview | None:
    """Hook: hand 申请材料审查's plain cell values to the pure parser (review.parse_review)."""
    from .review import REVIEW_SHEET, parse_review

    if REVIEW_SHEET not in wb.sheetnames:
        return None
    ws = wb.sheet(REVIEW_SHEET)
    return parse_review([ws.rows.get(r, ())[:10] for r in range(1, min(ws.last_row, 200) + 1)])


def load_project(folder: str | Path) -> tuple[EvaluationInfo, Panel]:
    """基本信息 and a valid panel; roster errors raise (title warnings do not: see issue)."""
    project = _roster_project(folder)
    if project.errors:
        raise_panel_problems(project.errors, PROJECT_FILE)
    return project.info, Panel(project.experts)


def _roster_project(folder: str | Path) -> Project:
    """``read_project(folder, with_review=False)``, from the signed cache when it holds exactly
    these bytes (derived_cache.py); the review is issue's business, not collect's or status's."""
    data = _project_bytes(Path(folder) / PROJECT_FILE)
    if data is not None:
        sha = _sha256(data)
        cached = _from_cache(folder, "project", sha)
        if cached is not None:
            from .derived_cache import project_from_json

            try:
                project = project_from_json(cached)
            except Exception:  # noqa: BLE001 - a cache that does not rebuild is no cache: parse
                pass
            else:
                _remember("project", folder, sha, project, on_disk=True)
                return project
    return read_project(folder, with_review=False)


# ───────────────────────────── secrets and issued records ─────────────────────────────

MIN_KEY_BYTES = 16  # new folders get 32; anything shorter than 128 bits is refused
_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud over the phone


def new_secret(today: datetime.date | None = None) -> Secret:
    """A fresh key and password; the evaluation id carries ``today`` (the clock by default)."""
    import secrets  # only `new` needs it

    day = (today or datetime.date.today()).strftime("%Y%m%d")
    evaluation_id = f"QI-{day}-{secrets.token_hex(4).upper()}"
    password = "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(10))
    return Secret(evaluation_id, secrets.token_bytes(32), password)


def load_secret(folder: str | Path) -> Secret:
    path = Path(folder) / SECRET_FILE
    if not path.is_file():
        raise QiError(f"{Path(folder)} 不是评价目录（缺少 {SECRET_FILE}）：请先运行 qi-excel new 建立评价目录。")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        secret = Secret(str(data["evaluation_id"]), bytes.fromhex(data["hmac_key"]), str(data["password"]))
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, AttributeError):
        raise QiError(f"{path} 已损坏，无法读取评价编号和密钥；请从备份恢复该文件。") from None
    if len(secret.hmac_key) < MIN_KEY_BYTES:
        # an empty or short key signs workbooks anyone can forge: never sign with it
        raise QiError(
            f"{path} 中的密钥（hmac_key）{'为空' if not secret.hmac_key else f'只有 {len(secret.hmac_key)} 字节'}，"
            f"至少应为 {MIN_KEY_BYTES} 字节：用它签名的工作簿任何人都能伪造，因此未做任何处理。"
            "请从备份恢复该文件；如无备份，请用 qi-excel new 建立新的评价目录并重新发放。"
        )
    if not secret.evaluation_id.strip():
        raise QiError(f"{path} 中的评价编号为空；请从备份恢复该文件。")
    return secret


def load_issued(folder: str | Path) -> list[IssuedRecord]:
    """Every workbook issued so far, oldest first; the last record per expert is current."""
    path = Path(folder) / ISSUED_FILE
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        records = [IssuedRecord(**{k: str(d[k]) for k in IssuedRecord._fields}) for d in data]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise QiError(f"{path} 已损坏，无法读取发放记录。") from None
    from .folder_state import confine

    for r in records:
        confine(folder, r.file, ISSUED_FILE)  # a record pointing outside the folder is not ours
    return records


def save_issued(folder: str | Path, records: Sequence[IssuedRecord]) -> Path:
    data = [r._asdict() for r in records]
    return write_text_atomic(Path(folder) / ISSUED_FILE, json.dumps(data, ensure_ascii=False, indent=2) + "\n")


# ───────────────────────────── new evaluation folder ─────────────────────────────


def sample_info() -> EvaluationInfo:
    """A realistic, fictional evaluation (people, addresses and numbers are invented)."""
    return EvaluationInfo(
        service_name="长沙县质量基础设施“一站式”服务",
        applicant="长沙县质量基础设施“一站式”服务中心",
        address="湖南省长沙县星沙街道开元东路 188 号",
        head="黄志强",
        head_phone="0731-84010001",
        head_email="huangzhiqiang@example.cn",
        contact="邓丽",
        contact_phone="0731-84010002",
        contact_email="dengli@example.cn",
        goals=(
            "整合计量、标准、认证认可、检验检测、质量管理、知识产权、质量品牌、质量培训等质量基础设施资源，"
            "为县域企业提供“一站式”质量技术服务；\n"
            "年度服务企业不少于 500 家，服务满意度不低于 90 分，形成可复制推广的县域服务模式。"
        ),
        organizer="长沙市市场监督管理局",
        evaluation_date="2025-06-18",
        first_meeting="2025-06-18 09:00 服务中心三楼会议室",
        site_visit="2025-06-18 10:00—16:30 服务大厅、档案室及两家服务对象企业",
        internal_meeting="2025-06-18 17:00 服务中心二楼小会议室",
        last_meeting="2025-06-19 10:00 服务中心三楼会议室",
        self_summary="依照评价表（附录A）逐项自查，形成自我评价记录；制度建设、综合效果两项仍有提升空间。",
        application_date="2025-05-20",
    )


def sample_panel() -> Panel:
    """Seven fictional experts with senior titles; the first is the 组长."""
    rows = (
        ("周立新", "正高级工程师", "湘中计量检测研究院", "计量", "13907310001", "zhoulixin@example.com", LEADER),
        ("陈晓岚", "教授", "潇湘大学质量与标准化学院", "质量管理", "13907310002", "chenxiaolan@example.com", MEMBER),
        ("刘卫东", "研究员", "湘江标准化研究中心", "标准化", "13907310003", "liuweidong@example.com", MEMBER),
        ("王芳", "高级工程师", "长岭检验检测集团有限公司", "检验检测", "13907310004", "wangfang@example.com", MEMBER),
        ("李建国", "高级经济师", "麓山知识产权服务中心", "知识产权", "13907310005", "lijianguo@example.com", MEMBER),
        ("赵敏", "高级工程师", "星沙认证有限公司", "认证认可", "13907310006", "zhaomin@example.com", MEMBER),
        ("孙浩然", "正高级工程师", "洞庭质量品牌促进会", "质量品牌与培训", "13907310007", "sunhaoran@example.com", MEMBER),
    )
    return Panel(tuple(Expert(i, *r) for i, r in enumerate(rows, 1)))


def new_evaluation(folder: str | Path, *, sample: bool = False, rubric: str | Path | None = None,
                   roster_from: str | Path | None = None, now: datetime.datetime | None = None) -> list[Path]:
    """Create an evaluation folder; refuses to touch one that already holds an evaluation.

    The rubric (the shipped table A.1, or the file ``rubric``) is validated and copied into
    the folder: every later step of this evaluation reads that copy. ``roster_from`` (another
    evaluation folder, or its 评价项目.xlsx) copies that roster into 专家组 and nothing else:
    the clean way to reuse a panel, instead of copying a whole folder with its key. ``now``
    dates the evaluation id (the clock by default).
    """
    from .rubric import default_rubric_text, load_rubric
    from .workbook_project import fill_project_workbook, project_template_bytes

    root = Path(folder)
    if root.exists() and not root.is_dir():
        raise QiError(f"{root} 已存在且不是文件夹。")
    clash = [name for name in (PROJECT_FILE, SECRET_FILE, PASSWORD_FILE) if (root / name).exists()]
    if clash:
        raise QiError(f"{root} 中已有 {'、'.join(clash)}：这是一个已建立的评价目录，为避免覆盖，未写入任何文件。")
    rubric_text = default_rubric_text() if rubric is None else load_rubric(rubric).source_text
    data = project_template_bytes()
    if sample and roster_from is not None:
        raise QiError("--sample 和 --roster-from 不能同时使用。")
    if sample:
        from .review import sample_review

        data = fill_project_workbook(data, sample_info(), sample_panel(), sample_review())
    elif roster_from is not None:
        data = _with_roster(data, _roster_of(roster_from))
    secret = new_secret(now.date() if now else None)
    written = [
        write_bytes_atomic(root / PROJECT_FILE, data),
        write_text_atomic(root / RUBRIC_FILE, rubric_text),
        write_text_atomic(root / SECRET_FILE, json.dumps(
            {"evaluation_id": secret.evaluation_id, "hmac_key": secret.hmac_key.hex(), "password": secret.password},
            ensure_ascii=False, indent=2) + "\n"),
        write_text_atomic(root / PASSWORD_FILE, _password_note(secret)),
    ]
    for sub in (ISSUE_DIR, INBOX_DIR):
        (root / sub).mkdir(exist_ok=True)
    return written


def _roster_of(source: str | Path) -> Panel:
    """The roster of another evaluation (its folder or its 评价项目.xlsx), nothing else of it."""
    path = Path(source)
    project_file = path / PROJECT_FILE if path.is_dir() else path
    if not project_file.is_file():
        raise QiError(f"找不到 {project_file}：--roster-from 应为原评价目录或其中的 {PROJECT_FILE}。")
    wb = _open_project(project_file)
    experts = read_panel(wb, str(project_file))[0]
    if not experts:
        raise QiError(f"{project_file} 的专家组中没有专家，无法复用名单。")
    return Panel(tuple(sorted(experts, key=lambda e: e.number)))


def _with_roster(template: bytes, panel: Panel) -> bytes:
    """The project template with only 专家组 filled (基本信息 stays empty for the new evaluation)."""
    import io

    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(template))
    ws = wb[PANEL_SHEET]
    header = next((row[0].row for row in ws.iter_rows(min_row=1, max_row=10)
                   if any(cell_text(c.value) == "姓名" for c in row)), None)
    if header is None:
        raise QiError(f"{PROJECT_FILE} 模板的“{PANEL_SHEET}”工作表中找不到表头行，无法复用名单。")
    columns = {cell_text(c.value): c.column for c in ws[header] if c.value}
    for i, expert in enumerate(panel.experts, start=header + 1):
        for text, attr in PANEL_COLUMNS:
            if text in columns:
                ws.cell(i, columns[text]).value = getattr(expert, attr)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


_rubric_cache: dict[str, "Rubric"] = {}

# What this process parsed, for ``save_derived``: (kind, folder) → (source SHA-256, object),
# and which (kind, folder, SHA-256) caches are known to be on disk already.
_parsed: dict[tuple[str, str], tuple[str, Any]] = {}
_on_disk: set[tuple[str, str, str]] = set()


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _folder_id(folder: str | Path) -> str:
    return str(Path(folder).absolute())


def _remember(kind: str, folder: str | Path, sha: str, parsed: Any, *, on_disk: bool = False) -> None:
    if len(_parsed) > 64:  # the web page reads many folders (and uploads in temporary ones)
        _parsed.clear()
        _on_disk.clear()
    _parsed[(kind, _folder_id(folder))] = (sha, parsed)
    if on_disk:
        _on_disk.add((kind, _folder_id(folder), sha))


def _from_cache(folder: str | Path, kind: str, sha: str) -> dict[str, Any] | None:
    """The cached form of the source with this SHA-256, if the folder holds a valid one."""
    from .derived_cache import CACHE_FILES, read_cache

    if not (Path(folder) / CACHE_FILES[kind]).is_file():
        return None  # not cached (yet): no need to read the key
    try:
        key = load_secret(folder).hmac_key
    except (QiError, OSError):
        return None
    return read_cache(folder, kind, sha, key)


def save_derived(folder: str | Path, secret: Secret) -> None:
    """Keep what this process parsed of the rubric copy and 评价项目.xlsx (derived_cache.py).

    Called by the commands that already write the folder under its lock (``issue``,
    ``collect``), after they read both in full; a later ``collect``/``status`` then rebuilds
    the same objects without parsing. Nothing is written for what came from the cache.
    """
    from .derived_cache import CACHE_FILES, project_to_json, rubric_to_json, write_cache

    for kind, to_json in (("rubric", rubric_to_json), ("project", project_to_json)):
        entry = _parsed.get((kind, _folder_id(folder)))
        if entry is None:
            continue
        if (kind, _folder_id(folder), entry[0]) in _on_disk and (Path(folder) / CACHE_FILES[kind]).is_file():
            continue
        sha, parsed = entry
        write_cache(folder, kind, sha, secret.hmac_key, to_json(parsed))
        _on_disk.add((kind, _folder_id(folder), sha))


def rubric_fingerprint(folder: str | Path) -> str:
    """SHA-256 of the evaluation's rubric copy, equal to ``evaluation_rubric(folder).fingerprint``
    without parsing it."""
    import hashlib

    path = Path(folder) / RUBRIC_FILE
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        from .rubric import shipped_rubric

        return shipped_rubric().fingerprint
    except (OSError, UnicodeDecodeError):
        raise QiError(f"无法读取 {path}：评价目录中的评价表副本已损坏。") from None
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def evaluation_rubric(folder: str | Path) -> "Rubric":
    """The rubric this evaluation was set up with (the shipped one for folders made before
    evaluations kept their own copy)."""
    from .rubric import parse_rubric, shipped_rubric

    path = Path(folder) / RUBRIC_FILE
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except FileNotFoundError:
        return shipped_rubric()
    except (OSError, UnicodeDecodeError):
        raise QiError(f"无法读取 {path}：评价目录中的评价表副本已损坏。") from None
    sha = _sha256(raw)
    if text in _rubric_cache:
        _remember("rubric", folder, sha, _rubric_cache[text])
        return _rubric_cache[text]
    rubric = None
    cached = _from_cache(folder, "rubric", sha)
    if cached is not None:
        from .derived_cache import rubric_from_json

        try:
            rubric = rubric_from_json(cached, text)
        except Exception:  # noqa: BLE001 - a cache that does not rebuild is no cache: parse
            rubric = None
    if rubric is not None:
        _remember("rubric", folder, sha, rubric, on_disk=True)
    else:
        rubric = parse_rubric(text, str(path))  # validated in full: only then kept (save_derived)
        _remember("rubric", folder, sha, rubric)
    _rubric_cache.clear()  # one evaluation at a time in practice; keep memory flat
    _rubric_cache[text] = rubric
    return rubric


def _password_note(secret: Secret) -> str:
    return (
        f"评价编号：{secret.evaluation_id}\n"
        f"评分工作簿保护密码：{secret.password}\n"
        "\n"
        "说明：发给专家的评分工作簿已用此密码保护工作表和工作簿结构，专家只能填写得分、扣分说明、改进建议和签名。\n"
        "此密码仅供评价组织人员使用，请勿随工作簿发给专家。\n"
        f"请勿删除或修改 {STATE_DIR} 文件夹：其中的密钥用于核验专家交回的工作簿确为本次评价发放。\n"
    )
