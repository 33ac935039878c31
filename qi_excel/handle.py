"""One handle on an evaluation folder: ``Evaluation(path)``.

The CLI and the local web page (``qi-excel ui``) both act on an evaluation folder. Without a
handle each caller would reload the secret, 评价项目.xlsx, the rubric copy, the issue records
and the ledger itself and decide on its own what "done" means. The handle loads them once,
lazily (a listing of fifty folders must not open fifty workbooks), offers one method per
workflow step — each a call to the existing library function, never a re-implementation —
and answers the questions a front end asks: which stage, which step is next, what the list
page shows.

Actions on one folder are serialized twice over: threads of this process (the web server's
requests) queue on a per-folder re-entrant lock, and processes (a terminal beside the web
page) exclude each other with the folder's lock file (``qi_excel.lock.folder_lock``), which
is re-entrant within a thread, so a library function that takes the folder lock itself runs
fine under the handle's. Every action that may change the folder also appends one record to the folder's
operation log (``audit.audited``) here, in the handle, so a step taken on the web page is
logged exactly like the same step on the command line.
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, Sequence

from . import evaluation as ev
from .errors import QiError
from .fileio import write_text_atomic
from .folder_state import resolved

if TYPE_CHECKING:
    from .audit import LogCheck
    from .listing import Step as Step, Summary as Summary  # noqa: PLC0414 - re-exported (see __getattr__)
    from .collect import CollectResult, ExpertStatus
    from .consolidate import Consolidation
    from .consolidation_step import FolderConsolidation
    from .documents import Written
    from .excuse import Excusal
    from .remind import RemindResult
    from .rubric import Rubric
    from .workbook import IssueResult

STAGES = ("建立", "已发放", "回收中", "已汇总", "已出报告", "已归档")
ARCHIVE_GLOB = "评价档案-*.zip"
SUMMARY_CACHE_FILE = ".qi/list-summary.json"

_locks: dict[str, threading.RLock] = {}
_locks_guard = threading.Lock()
_acting = threading.local()  # folders whose action is being recorded by this thread

# What an action reads besides the folder's records (audit.STATE_INPUTS) and the files it is given.
_READS: dict[str, tuple[str, ...]] = {
    "consolidate": (ev.ACCEPTED_DIR,),
    "application": (ev.ACCEPTED_DIR,),
    "export": (ev.ACCEPTED_DIR,),
    "archive": (ev.ACCEPTED_DIR, ev.CHECK_REPORT_FILE, ev.SUMMARY_FILE, ev.REPORT_FILE, ev.APPLICATION_FILE),
}


def __getattr__(name: str) -> Any:
    """``Step`` and ``Summary`` live in ``listing`` (only the web page needs them; defining two
    frozen dataclasses costs ~1.5 ms on every command): still importable from here."""
    if name in ("Step", "Summary"):
        from . import listing

        return getattr(listing, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _folder_lock(path: Path) -> threading.RLock:
    key = _key(path)
    with _locks_guard:
        lock = _locks.get(key)
        if lock is None:
            lock = _locks[key] = threading.RLock()
        return lock


def _key(path: Path) -> str:
    return resolved(path)


@contextmanager
def _recorded(root: Path, command: str, options: Mapping[str, Any],
              read: Iterable[str | Path]) -> Iterator[dict[str, Any]]:
    """Append one audit record for an action (``audit.audited``); an action run inside another
    one on the same folder and thread is part of it and is not recorded twice."""
    from .audit import audited, input_files

    acting: set[str] = _acting.__dict__.setdefault("folders", set())
    key = _key(root)
    if key in acting:
        yield {}
        return
    paths = [*read, *(root / rel for rel in _READS.get(command, ()))]
    acting.add(key)
    try:
        with audited(root, command, dict(options), read=input_files(root, paths)) as outcome:
            yield outcome
    finally:
        acting.discard(key)


_summary_cache: dict[tuple[str, str], "Summary"] = {}


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


class Evaluation:
    """An evaluation folder made by ``qi-excel new`` (or the page's 新建评价)."""

    def __init__(self, path: str | Path, *, warm_list_cache: bool = False) -> None:
        """``warm_list_cache``: after each action, bring the list page's cached row up to date
        (the web page asks for it; a command line run does not pay for it)."""
        self.path = Path(path)
        self.warm_list_cache = warm_list_cache
        if not self.path.is_dir():
            raise QiError(f"评价目录 {self.path} 不存在。")
        self.secret = ev.load_secret(self.path)  # raises a QiError naming the folder when it is not one
        self.created: tuple[Path, ...] = ()  # the files ``new`` wrote (for the CLI's listing)

    def __repr__(self) -> str:
        return f"Evaluation({str(self.path)!r})"

    # ─────────────── creating ───────────────

    @classmethod
    def new(cls, path: str | Path, *, sample: bool = False, rubric: str | Path | None = None,
            info: ev.EvaluationInfo | None = None, panel: ev.Panel | None = None,
            project: bytes | None = None, roster_from: str | Path | None = None) -> "Evaluation":
        """Create the folder (``new_evaluation``); optionally with 基本信息 and roster typed in
        (``info`` and ``panel``), with a colleague's 评价项目.xlsx (``project``) or with the
        roster of another evaluation (``roster_from``).

        Typed or uploaded, the workbook is checked with the reader and roster rules ``issue``
        uses (clause 7.2) before anything is written, so a bad roster leaves no folder behind.
        The files written are in ``created`` of the returned handle.
        """
        from .workbook_project import fill_project_workbook, project_template_bytes

        if (info is None) != (panel is None):
            raise ValueError("info and panel go together")
        data = project
        if info is not None and panel is not None:
            data = fill_project_workbook(project_template_bytes(), info, panel)
        if data is not None:
            check_project_bytes(data)
        root = Path(path)
        options = {"sample": sample, "rubric": rubric, "roster_from": roster_from,
                   "project": "（网页填写或上传）" if data is not None else None}
        with _folder_lock(root), _recorded(root, "new", options, [rubric] if rubric else []):
            written = ev.new_evaluation(root, sample=sample and data is None, rubric=rubric, roster_from=roster_from)
            if data is not None:
                from .fileio import write_bytes_atomic

                write_bytes_atomic(root / ev.PROJECT_FILE, data)
        made = cls(root)
        made.created = tuple(written)
        made._keep_summary()
        return made

    # ─────────────── what the folder holds (loaded once, on first use) ───────────────

    @cached_property
    def project(self) -> ev.Project:
        return ev.read_project(self.path)

    @property
    def info(self) -> ev.EvaluationInfo:
        return self.project.info

    @property
    def panel(self) -> ev.Panel:
        """The roster; raises the same QiError as ``issue`` when it breaks clause 7.2."""
        if self.project.errors:
            ev.raise_panel_problems(self.project.errors, ev.PROJECT_FILE)
        return ev.Panel(self.project.experts)

    @cached_property
    def rubric(self) -> "Rubric":
        return ev.evaluation_rubric(self.path)

    @cached_property
    def issued(self) -> tuple[ev.IssuedRecord, ...]:
        return tuple(ev.load_issued(self.path))

    @cached_property
    def ledger(self) -> list[dict[str, Any]]:
        """The collector's ledger entries (read only; ``collect`` owns the file)."""
        path = self.path / ev.LEDGER_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            entries = data.get("entries", []) if isinstance(data, dict) else []
            return [e for e in entries if isinstance(e, dict)]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, UnicodeDecodeError):
            raise QiError(f"{path} 已损坏，无法读取回收记录。") from None

    @cached_property
    def consolidation(self) -> "Consolidation | None":
        """The last consolidation, or None before ``consolidate``."""
        from .consolidation_step import load_consolidation

        path = self.path / ev.CONSOLIDATION_FILE
        if not path.is_file():
            return None
        try:
            return load_consolidation(self.path)
        except QiError:
            raise
        except Exception:  # noqa: BLE001 - a hand-edited record must read as damaged, not crash a page
            raise QiError(f"汇总结果 {path} 已损坏或版本不符：请重新运行 qi-excel consolidate。") from None

    def refresh(self) -> None:
        """Forget what was loaded: the next access reads the folder again."""
        for name in ("project", "rubric", "issued", "ledger", "consolidation"):
            self.__dict__.pop(name, None)

    @contextmanager
    def locked(self, command: str = "qi-excel") -> Iterator[None]:
        """Serialize actions on this folder; what was loaded is re-read afterwards.

        The thread lock comes first: a second request of the web page waits its turn instead
        of timing out on the lock file, which only another process can hold for long.
        ``command`` names the holder in the message another process shows while it waits.
        """
        from .lock import folder_lock

        with _folder_lock(self.path), folder_lock(self.path, command=command):
            try:
                yield
            except BaseException:
                self.refresh()  # a refused action leaves the folder as it was: no cache written
                raise
            self.refresh()
            if self.warm_list_cache:
                self._keep_summary()

    def _keep_summary(self) -> None:
        """Bring the list page's cached row up to date after an action (never fails the action)."""
        try:
            self.summary()
        except Exception:  # noqa: BLE001 - a cache must not turn a done action into an error
            pass

    @contextmanager
    def action(self, command: str, options: Mapping[str, Any] | None = None, *,
               read: Iterable[str | Path] = ()) -> Iterator[dict[str, Any]]:
        """Run an action that may change the folder: under the folder lock, recorded once in the
        operation log (what it read, what it wrote, how it ended). ``read`` names the files or
        folders it is given besides the folder's own records.

        Yields the record's outcome: an action may set ``outcome["result"]``.
        """
        with self.locked(command), _recorded(self.path, command, options or {}, read) as outcome:
            yield outcome

    # ─────────────── the workflow steps: one library call each ───────────────

    def issue(self, *, self_eval: bool = False, eml: bool = False, accept_titles: bool = False,
              issued_at: str | None = None) -> "IssueResult":
        from .workbook import issue_workbooks

        options = {"self_eval": self_eval, "eml": eml, "accept_titles": accept_titles}
        with self.action("issue", options):
            return issue_workbooks(self.path, self_eval=self_eval, eml=eml, accept_titles=accept_titles,
                                   issued_at=issued_at)

    def collect(self, paths: Sequence[str | Path] = ()) -> "CollectResult":
        """``collect``; a run in which a file was rejected is logged with its exit code (1)."""
        from .collect import collect

        given = [str(p) for p in paths]
        with self.action("collect", {"paths": given}, read=given or [self.path / ev.INBOX_DIR]) as outcome:
            result = collect(self.path, given)
            if result.exit_code:
                outcome["result"] = f"完成（退出码 {result.exit_code}）"
            return result

    def status(self) -> "list[ExpertStatus]":
        from .collect import panel_status

        with _folder_lock(self.path):
            return panel_status(self.path)

    def excuse(self, who: str, reason: str) -> "Excusal":
        """Record that panel member ``who`` (number or name) does not take part, and why."""
        from .excuse import excuse

        with self.action("excuse", {"expert": who, "reason": reason}):
            return excuse(self.path, who, reason)

    def undo_excuse(self, who: str) -> "Excusal":
        from .excuse import undo_excuse

        with self.action("excuse", {"expert": who, "undo": True}):
            return undo_excuse(self.path, who)

    def remind(self, *, deadline: str | None = None) -> "RemindResult":
        from .remind import remind

        with self.action("remind", {"deadline": deadline}):
            return remind(self.path, deadline=deadline)

    def run_consolidation(self, **options: Any) -> "FolderConsolidation":
        """``run_consolidation``: the result with who counted and where the opinion draft went."""
        from .consolidation_step import run_consolidation

        with self.action("consolidate", options):
            return run_consolidation(self.path, **options)

    def consolidate(self, **options: Any) -> "Consolidation":
        """``consolidate_folder`` with its options (method, decimals, draft, spread_share, ...)."""
        return self.run_consolidation(**options).result

    def make_application(self, *, template: str | Path | None = None, pdf: bool = False) -> "Written":
        """评价申请表 with the notes the organizer should read (``documents.make_application``)."""
        from .documents import make_application

        with self.action("application", {"template": template, "pdf": pdf}, read=[template] if template else []):
            return make_application(self.path, template=template, pdf=pdf)

    def application(self, *, template: str | Path | None = None, pdf: bool = False) -> list[Path]:
        return list(self.make_application(template=template, pdf=pdf).paths)

    def make_report(self, *, template: str | Path | None = None, pdf: bool = False, draft: bool = False) -> "Written":
        """评价报告 with the notes the organizer should read (``documents.make_report``)."""
        from .documents import make_report

        options = {"template": template, "pdf": pdf, "draft": draft}
        with self.action("report", options, read=[template] if template else []):
            return make_report(self.path, template=template, pdf=pdf, draft=draft)

    def report(self, *, template: str | Path | None = None, pdf: bool = False, draft: bool = False) -> list[Path]:
        return list(self.make_report(template=template, pdf=pdf, draft=draft).paths)

    def _procedure(self, command: str, options: Mapping[str, Any], template: str | Path | None) -> Any:
        return self.action(command, {**options, "template": template}, read=[template] if template else [])

    def review(self, *, template: str | Path | None = None, pdf: bool = False) -> list[Path]:
        """申请材料审查记录 (6.3)."""
        from .procedure import write_review

        with self._procedure("review", {"pdf": pdf}, template):
            return write_review(self.path, template=template, pdf=pdf)

    def plan(self, *, template: str | Path | None = None, pdf: bool = False) -> list[Path]:
        """评价计划 (7.1)."""
        from .procedure import write_plan

        with self._procedure("plan", {"pdf": pdf}, template):
            return write_plan(self.path, template=template, pdf=pdf)

    def signin(self, meetings: Sequence[str] = ("first", "last"), *, template: str | Path | None = None,
               pdf: bool = False) -> list[Path]:
        """首次/末次会议签到表 (8.1, 8.4)."""
        from .procedure import write_signin

        with self._procedure("signin", {"meetings": list(meetings), "pdf": pdf}, template):
            return write_signin(self.path, meetings, template=template, pdf=pdf)

    def pledge(self, *, template: str | Path | None = None, pdf: bool = False) -> list[Path]:
        """持续改进承诺书 (8.4.2)."""
        from .procedure import write_pledge

        with self._procedure("pledge", {"pdf": pdf}, template):
            return write_pledge(self.path, template=template, pdf=pdf)

    def export(self, *, fmt: str | None = None, output: str | Path | None = None) -> tuple[Path, int]:
        """Every score typed, one row per expert and score cell (``export.export_folder``)."""
        from .export import export_folder

        with self.action("export", {"fmt": fmt, "output": output}):
            return export_folder(self.path, fmt=fmt, output=output)

    def archive(self) -> Path:
        from .archive import write_archive

        with self.action("archive"):
            return write_archive(self.path)

    def verify_archive(self, zip_path: str | Path) -> list[str]:
        """Problems of an archive checked against this evaluation (hashes and signature)."""
        from .archive import verify_archive

        return verify_archive(zip_path, key=self.secret.hmac_key)

    @staticmethod
    def verify_any_archive(zip_path: str | Path) -> tuple[list[str], bool]:
        """``archive --verify``: problems, and whether the signature could be checked too."""
        from .archive import archive_key, verify_archive

        key = archive_key(zip_path)
        return verify_archive(zip_path, key=key), key is not None

    def log(self) -> "LogCheck":
        """The operation log checked against its signed chain head (``audit.check_folder``)."""
        from .audit import check_folder

        return check_folder(self.path)

    def log_lines(self) -> list[str]:
        """The operation log's raw lines, oldest first (for showing it)."""
        from .audit import read_lines

        return read_lines(self.path)

    # ─────────────── where the evaluation stands ───────────────

    def latest_issued(self) -> list[ev.IssuedRecord]:
        """The current workbook per person (experts first, then the self-evaluation)."""
        latest: dict[tuple[str, str], ev.IssuedRecord] = {}
        for r in self.issued:
            latest[(r.kind, r.expert_id)] = r
        return sorted(latest.values(), key=lambda r: (r.kind != "expert", r.expert_id))

    def issued_paths(self, record: ev.IssuedRecord) -> list[Path]:
        """The issued workbook and its mail draft, where present, and only inside 发放/."""
        issue_dir = (self.path / ev.ISSUE_DIR).resolve()
        workbook = (self.path / record.file).resolve()
        return [p for p in (workbook, workbook.with_suffix(".eml")) if p.parent == issue_dir and p.is_file()]

    def issued_zip(self) -> bytes:
        """Every current workbook and mail draft in one zip, for an organizer who sends by hand."""
        import io
        import zipfile

        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for record in self.latest_issued():
                for path in self.issued_paths(record):
                    info = zipfile.ZipInfo(path.name, date_time=(2000, 1, 1, 0, 0, 0))
                    info.flag_bits |= 0x800  # names are UTF-8
                    info.compress_type = zipfile.ZIP_DEFLATED
                    zf.writestr(info, path.read_bytes())
        return buf.getvalue()

    def accepted_ids(self) -> set[str]:
        """Experts whose return the collector accepted and still uses."""
        return {str(e.get("expert_id")) for e in self.ledger
                if e.get("status") == "accepted" and e.get("kind") == "expert" and e.get("expert_id")}

    def archives(self) -> list[Path]:
        return sorted(self.path.glob(ARCHIVE_GLOB))

    @property
    def stage(self) -> str:
        """The furthest step reached: 建立/已发放/回收中/已汇总/已出报告/已归档."""
        if self.archives():
            return "已归档"
        if (self.path / ev.REPORT_FILE).is_file():
            return "已出报告"
        if (self.path / ev.CONSOLIDATION_FILE).is_file():
            return "已汇总"
        if self.ledger:
            return "回收中"
        if any(r.kind == "expert" for r in self.issued):
            return "已发放"
        return "建立"

    def steps(self) -> "list[Step]":
        """The README's workflow table with what is done; the page marks the first open one as next."""
        from .listing import Step

        p = self.path
        experts = any(r.kind == "expert" for r in self.issued)
        own = any(r.kind == "self" for r in self.issued)
        from .excuse import folder_excusals
        from .opinion import is_edited
        from .procedure import PLAN_FILE, PLEDGE_FILE

        try:
            panel_size, review = len(self.project.experts), self.project.review
            excused = {x.expert_id for x in folder_excusals(p, self.panel)}
        except QiError:
            panel_size, review, excused = 0, None, set()
        accepted = len(self.accepted_ids() - excused)
        all_in = experts and panel_size > 0 and accepted + len(excused) >= panel_size
        reviewed = review is not None and review.passed
        report = (p / ev.REPORT_FILE).is_file()
        return [
            Step(1, "建立评价，填写基本信息和专家组", "qi-excel new", True),
            Step(2, "申请材料审查（规范 6.3 条）", "qi-excel review", reviewed,
                 note="" if reviewed else f"结论：{review.conclusion}" if review is not None and review.conclusion else "尚未记录结论"),
            Step(3, "评价计划、会议签到表", "qi-excel plan / signin", (p / PLAN_FILE).is_file(), optional=True),
            Step(4, "发放专家评分工作簿", "qi-excel issue --eml", experts),
            Step(5, "发放申报单位自我评价记录表", "qi-excel issue --self", own, optional=True),
            Step(6, "回收并检查交回的评分表", "qi-excel collect", all_in,
                 note=f"已接收 {accepted}/{panel_size}" + (f"，请假 {len(excused)}" if excused else "") if experts else ""),
            Step(7, "催办；不能参加的专家登记请假", "qi-excel remind / excuse", all_in),
            Step(8, "汇总专家评分", "qi-excel consolidate", (p / ev.CONSOLIDATION_FILE).is_file()),
            Step(9, "专家组组长修改定稿专家组意见", "专家组意见.docx", report or is_edited(p)),
            Step(10, "生成评价申请表", "qi-excel application", (p / ev.APPLICATION_FILE).is_file()),
            Step(11, "生成评价报告", "qi-excel report", report),
            Step(12, "持续改进承诺书", "qi-excel pledge", (p / PLEDGE_FILE).is_file(), optional=True),
            Step(13, "归档", "qi-excel archive", bool(self.archives())),
        ]

    def _summary_key(self) -> list[Any]:
        p = self.path
        stamps = [_stamp(p / f) for f in (
            ev.PROJECT_FILE, ev.ISSUED_FILE, ev.LEDGER_FILE, ev.CONSOLIDATION_FILE, ev.REPORT_FILE)]
        return [list(s) if s else None for s in stamps] + [a.name for a in self.archives()]

    def summary(self) -> "Summary":
        """The list page's row.

        Cached in memory and in ``.qi/list-summary.json``, keyed on the size and time of the
        files it depends on: a workspace of fifty evaluations lists without opening fifty
        workbooks, and any change made by the CLI or by hand is seen at once.
        """
        key = self._summary_key()
        memo = (str(self.path.resolve()), json.dumps(key))
        cached = _summary_cache.get(memo)
        if cached is not None:
            return cached
        result = self._stored_summary(key) or self._compute_summary()
        if len(_summary_cache) > 2000:
            _summary_cache.clear()
        _summary_cache[memo] = result
        return result

    def _stored_summary(self, key: list[Any]) -> "Summary | None":
        from .listing import Summary

        try:
            data = json.loads((self.path / SUMMARY_CACHE_FILE).read_text(encoding="utf-8"))
            if data.get("key") != key or data.get("evaluation_id") != self.secret.evaluation_id:
                return None
            total = data.get("total")
            return Summary(
                name=self.path.name, evaluation_id=self.secret.evaluation_id,
                service_name=str(data["service_name"]), applicant=str(data["applicant"]), stage=str(data["stage"]),
                accepted=int(data["accepted"]), panel=int(data["panel"]),
                total=Decimal(total) if total is not None else None,
                max_total=int(data["max_total"]) if data.get("max_total") is not None else None,
                draft=bool(data.get("draft")), problem=str(data.get("problem", "")),
            )
        except (OSError, ValueError, KeyError, TypeError, ArithmeticError, AttributeError):
            return None

    def _compute_summary(self) -> "Summary":
        from dataclasses import asdict

        from .listing import Summary

        key = self._summary_key()
        problem = ""
        service = applicant = ""
        panel = 0
        try:
            service, applicant = self.info.service_name, self.info.applicant
            panel = len(self.project.experts)
        except QiError as err:
            problem = str(err)
        cons = None
        try:
            cons = self.consolidation
        except QiError as err:
            problem = problem or str(err)
        try:
            stage, accepted = self.stage, len(self.accepted_ids())
        except QiError as err:
            stage, accepted, problem = "建立", 0, problem or str(err)
        result = Summary(
            name=self.path.name, evaluation_id=self.secret.evaluation_id, service_name=service, applicant=applicant,
            stage=stage, accepted=accepted, panel=panel,
            total=cons.total if cons else None, max_total=cons.max_total if cons else None,
            draft=bool(cons and cons.draft), problem=problem,
        )
        if key == self._summary_key():  # nothing changed while reading: safe to keep
            data = {**asdict(result), "key": key, "total": str(result.total) if result.total is not None else None}
            data.pop("name")
            try:
                write_text_atomic(self.path / SUMMARY_CACHE_FILE, json.dumps(data, ensure_ascii=False) + "\n")
            except OSError:
                pass  # a read-only folder still lists, just more slowly
        return result


def check_project_bytes(data: bytes) -> ev.Project:
    """Read a 评价项目.xlsx given as bytes exactly as ``issue`` reads the folder's own copy:
    required 基本信息 and the clause-7.2 roster errors raise the same QiError messages."""
    import tempfile  # only here: it imports shutil, bz2, lzma and random (~6 ms per command)

    with tempfile.TemporaryDirectory(prefix="qi-project-") as tmp:
        (Path(tmp) / ev.PROJECT_FILE).write_bytes(data)
        project = ev.read_project(tmp)
    if project.errors:
        ev.raise_panel_problems(project.errors, ev.PROJECT_FILE)
    return project


def find_evaluations(workspace: str | Path) -> list[Path]:
    """Evaluation folders directly inside ``workspace`` (those with a secret), by name."""
    root = Path(workspace)
    if not root.is_dir():
        return []
    out = []
    for child in root.iterdir():
        if child.name.startswith(".") or child.is_symlink() or not child.is_dir():
            continue
        if (child / ev.SECRET_FILE).is_file():
            out.append(child)
    return sorted(out, key=lambda c: c.name)
