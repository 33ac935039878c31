"""The evaluation folder: what the organizer fills in (评价项目.xlsx), the panel, and secrets.

CONTRACT (other modules rely on these names; the workbook issue fills in the rest):

Folder layout, all names relative to the evaluation folder DIR:
  评价项目.xlsx          sheets 基本信息 and 专家组, filled by the organizer
  保护密码.txt           the sheet/workbook protection password, for the organizer
  .qi/secret.json        {"evaluation_id", "hmac_key" (hex), "password"}; never sent out
  .qi/issued.json        what `issue` wrote: [{"expert_id", "name", "file", "kind", "issued_at", "sha256"}]
  发放/                  issued workbooks (and .eml drafts)
  收件箱/                default place `collect` reads from
  回收/                  accepted originals under content-hash names + 回收/ledger.json
  检查报告.xlsx, 汇总表.xlsx, 评价申请表.docx, 评价报告.docx, 评价档案-*.zip
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROJECT_FILE = "评价项目.xlsx"
PASSWORD_FILE = "保护密码.txt"
STATE_DIR = ".qi"
SECRET_FILE = ".qi/secret.json"
ISSUED_FILE = ".qi/issued.json"
ISSUE_DIR = "发放"
INBOX_DIR = "收件箱"
ACCEPTED_DIR = "回收"
LEDGER_FILE = "回收/ledger.json"
CHECK_REPORT_FILE = "检查报告.xlsx"
SUMMARY_FILE = "汇总表.xlsx"
CONSOLIDATION_FILE = ".qi/consolidation.json"
APPLICATION_FILE = "评价申请表.docx"
REPORT_FILE = "评价报告.docx"

INFO_SHEET = "基本信息"
PANEL_SHEET = "专家组"

SELF_ID = "SELF"
LEADER = "组长"
MEMBER = "成员"


@dataclass(frozen=True)
class EvaluationInfo:
    """基本信息: every field of Appendix B plus the organizer's own dates."""

    service_name: str  # 服务名称
    applicant: str  # 申报单位
    address: str  # 地址
    head: str  # 负责人
    head_phone: str
    head_email: str
    contact: str  # 联系人
    contact_phone: str
    contact_email: str
    goals: str  # 总体目标和要求
    organizer: str  # 评价组织
    evaluation_date: str  # 评价日期 (text as the organizer wrote it, ISO when a real date)
    first_meeting: str  # 首次会议
    site_visit: str  # 现场考察
    last_meeting: str  # 末次会议
    self_summary: str = ""  # 自查情况总结报告 (optional)
    application_date: str = ""  # 申请日期 (optional)


@dataclass(frozen=True)
class Expert:
    number: int  # 序号
    name: str
    title: str  # 职称
    employer: str  # 工作单位
    field: str  # 专业领域
    phone: str
    email: str
    role: str  # 组长 / 成员

    @property
    def expert_id(self) -> str:
        return f"E{self.number:02d}"


@dataclass(frozen=True)
class Panel:
    experts: tuple[Expert, ...]

    @property
    def leader(self) -> Expert:
        return next(e for e in self.experts if e.role == LEADER)

    def by_id(self, expert_id: str) -> Expert | None:
        return next((e for e in self.experts if e.expert_id == expert_id), None)


@dataclass(frozen=True)
class Secret:
    evaluation_id: str
    hmac_key: bytes
    password: str


def folder_path(root: str | Path, relative: str) -> Path:
    return Path(root) / relative
