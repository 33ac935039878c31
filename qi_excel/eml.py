"""Mail drafts (.eml) that open in Outlook, Foxmail, Thunderbird or WPS mail ready to send.

The organizer double-clicks the draft, checks it and presses Send: the expert's address,
a Chinese subject and body and the workbook are already in place. ``X-Unsent: 1`` makes
Outlook open the file as a new message instead of a received one.
"""

from __future__ import annotations

import datetime
from email import encoders
from email.header import Header
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import formataddr

from .project import LEADER, EvaluationInfo, Expert

XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def draft(to_name: str, to_addr: str, subject: str, body: str, filename: str, data: bytes) -> bytes:
    """The message, with the attachment name written both ways mail clients read it.

    ``filename*=`` (RFC 2231) on Content-Disposition is the standard; older Outlook and Foxmail
    only decode an RFC 2047 ``name=`` on Content-Type, so that is given as well. Built with the
    compat32 classes, headers encoded here and not refolded: the modern folder mangles a long
    Content-Type carrying a parameter.
    """
    msg = MIMEMultipart()
    msg["To"] = formataddr((to_name, to_addr), charset="utf-8") if to_addr else ""
    msg["Subject"] = Header(subject, "utf-8").encode()  # folded into ≤75-character encoded words
    msg["X-Unsent"] = "1"
    msg.attach(MIMEText(body, "plain", "utf-8"))
    part = MIMEBase(*XLSX_TYPE)
    part.set_payload(data)
    encoders.encode_base64(part)
    encoded_name = Header(filename, "utf-8").encode().replace("\n", "")
    part.replace_header("Content-Type", f'{"/".join(XLSX_TYPE)}; name="{encoded_name}"')
    part["Content-Disposition"] = "attachment; filename*=utf-8''" + _percent(filename)
    msg.attach(part)
    return msg.as_bytes(policy=compat32.clone(linesep="\r\n", max_line_length=998))


def _percent(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def _schedule(info: EvaluationInfo) -> str:
    lines = [f"{label}：{value}" for label, value in (
        ("首次会议", info.first_meeting), ("现场考察", info.site_visit), ("末次会议", info.last_meeting))
        if value]
    return ("评价安排：\n" + "\n".join(f"  {line}" for line in lines) + "\n\n") if lines else ""


def _signed_on(on: datetime.date | None) -> str:
    """The letter's date, as people write it (2026年6月18日); the day the workbooks were issued."""
    from .dates import day_text

    return day_text(on or datetime.date.today())


def expert_eml(info: EvaluationInfo, expert: Expert, filename: str, data: bytes, *,
               on: datetime.date | None = None) -> bytes:
    organizer = info.organizer or "评价组织"
    role = "（专家组组长）" if expert.role == LEADER else ""
    body = (
        f"尊敬的{expert.name}专家{role}：\n\n"
        f"您好！现将{info.service_name}（申报单位：{info.applicant}）评价的专家评分工作簿发给您，"
        f"请查收附件《{filename}》。\n\n"
        "请在“评分表”工作表的“得分”列按评价表（规范附录A 表A.1）逐项打分，得分低于满分的请在"
        "“扣分说明/备注”列写明理由；现场记录的评价发现和改进建议请填写在“改进建议”工作表。"
        "填写完毕后请在表末签名并填写日期，阅读表末的专家承诺（保密、独立评分、无利益冲突）后在确认格中选择“同意”，保存后直接回复本邮件发回（请勿更改文件名后缀或另存为其他格式）。\n\n"
        f"{_schedule(info)}"
        "工作簿可用 Microsoft Excel、WPS 表格或 LibreOffice Calc 打开，填写说明见工作簿中的“填写说明”工作表。\n\n"
        f"{organizer}\n{_signed_on(on)}\n"
    )
    subject = f"{info.service_name}评价 专家评分表（{expert.name}）"
    return draft(expert.name, expert.email, subject, body, filename, data)


def self_eml(info: EvaluationInfo, filename: str, data: bytes, *, on: datetime.date | None = None) -> bytes:
    organizer = info.organizer or "评价组织"
    to_name, to_addr = (info.contact, info.contact_email) if info.contact_email else (info.head, info.head_email)
    body = (
        f"{info.applicant}：\n\n"
        f"现将{info.service_name}的自我评价记录表发给你们，请查收附件《{filename}》。\n\n"
        "请依照评价表（规范附录A 表A.1）逐项自评打分，得分低于满分的请写明原因，自查发现的问题和改进措施"
        "请填写在“改进建议”工作表；由负责人签名并填写日期后，随评价申请材料一并报送。\n\n"
        f"{organizer}\n{_signed_on(on)}\n"
    )
    subject = f"{info.service_name} 自我评价记录表"
    return draft(to_name, to_addr, subject, body, filename, data)
