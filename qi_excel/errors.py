"""One exception type for everything a user can get wrong.

The CLI turns a ``QiError`` into its message and an exit code, never a traceback, so
every layer raises this with a Chinese sentence that names the file, sheet or cell.
"""

from __future__ import annotations

import errno as _errno


class QiError(Exception):
    """A problem the user can fix; ``str(err)`` is the Chinese message shown to them."""

    exit_code = 3  # a data or folder problem; click's usage errors exit with 2 (see cli/common.py)

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self)


# ───────────────────────────── system and parser messages in Chinese ─────────────────────────────
# Organizers read Chinese; an English fragment such as "Read-only file system" or tomllib's
# "Expected '=' after a key" in the middle of a message is noise to them.

_ERRNO_TEXT: dict[int, str] = {
    _errno.EROFS: "只读文件系统，不能写入",
    _errno.EACCES: "没有权限",
    _errno.EPERM: "操作不被允许（没有权限）",
    _errno.ENOSPC: "磁盘空间不足",
    _errno.ENOENT: "找不到该文件或文件夹",
    _errno.EISDIR: "这是一个文件夹，不是文件",
    _errno.ENOTDIR: "路径中的某一级不是文件夹",
    _errno.EEXIST: "已有同名的文件或文件夹",
    _errno.ENAMETOOLONG: "文件名或路径过长",
    _errno.EBUSY: "文件正被其他程序占用",
    _errno.EIO: "磁盘读写出错",
    _errno.EMFILE: "同时打开的文件过多",
    _errno.ENFILE: "同时打开的文件过多",
    _errno.ELOOP: "快捷方式（符号链接）层数过多，可能互相指向",
    _errno.EXDEV: "不能跨磁盘移动",
    _errno.EINVAL: "文件名或参数无效",
    _errno.ENOTEMPTY: "文件夹不是空的",
    _errno.ETXTBSY: "文件正被其他程序占用",
}
if hasattr(_errno, "EDQUOT"):
    _ERRNO_TEXT[_errno.EDQUOT] = "磁盘配额已用完"
# Windows reports a file open in Excel as EACCES with one of these winerror codes.
_WINERROR_TEXT = {32: "文件正被其他程序（如 Excel/WPS）占用", 33: "文件的一部分被其他程序锁定",
                  112: "磁盘空间不足", 206: "文件名或路径过长", 5: "没有权限"}


def os_error_text(exc: OSError) -> str:
    """What went wrong with a file, in Chinese, whatever the OS or its language."""
    winerror = getattr(exc, "winerror", None)
    if winerror in _WINERROR_TEXT:
        return _WINERROR_TEXT[winerror]
    if exc.errno in _ERRNO_TEXT:
        return _ERRNO_TEXT[exc.errno]
    return f"系统错误（错误码 {exc.errno}）" if exc.errno else "系统错误"


_TOML_TEXT: tuple[tuple[str, str], ...] = (
    ("Expected '=' after a key", "键名后面缺少“=”（键名中有空格时须加引号）"),
    ("Invalid value", "值无效（文字须用英文双引号括起来）"),
    ("Unclosed array", "数组缺少右方括号“]”"),
    ("Unclosed inline table", "行内表缺少右花括号“}”"),
    ("Unterminated string", "字符串缺少结束的引号"),
    ("Cannot overwrite a value", "同一个键写了两次"),
    ("Cannot declare", "同一个表头写了两次"),
    ("Cannot mutate", "重复定义了已有的表"),
    ("Expected newline or end of document after a statement", "一条语句之后应换行（同一行有多余的内容或不可见字符）"),
    ("Invalid statement", "无法识别的语句"),
    ("Invalid initial character for a key part", "键名以不允许的字符开头"),
    ("Expected ']' at the end of a table declaration", "表头缺少“]”"),
    ("Expected ']]' at the end of an array declaration", "数组表头缺少“]]”"),
    ("Illegal character", "含有不允许的字符（如控制字符）"),
    ("Invalid date or datetime", "日期或时间写法无效"),
    ("Invalid hex value", "十六进制数写法无效"),
    ("Unescaped", "字符串中有未转义的字符"),
    ("Unclosed", "括号或引号没有闭合"),
    ("Duplicate", "重复的键"),
)
_TOML_WHERE = __import__("re").compile(r"\s*\((?:at line (\d+), column (\d+)|at end of document)\)\s*$")


def toml_error_text(exc: Exception) -> str:
    """tomllib's message as "第 N 行第 M 列：<Chinese description>"."""
    text = str(exc)
    m = _TOML_WHERE.search(text)
    where = ""
    if m:
        where = f"第 {m.group(1)} 行第 {m.group(2)} 列" if m.group(1) else "文件末尾"
        text = text[: m.start()]
    what = next((zh for en, zh in _TOML_TEXT if text.startswith(en)), "格式错误")
    return f"{where}：{what}" if where else what
