"""The ``qi-excel`` command line: a thin layer over the library.

Each command parses options, makes one call on the evaluation folder's handle
(``qi_excel.Evaluation``) or, for commands outside a folder, one library function, and
prints. Heavy libraries are imported inside the commands so ``qi-excel --help`` answers at
once. A ``QiError`` becomes its Chinese message and an exit code (``common.py``), never a
traceback.
"""

from __future__ import annotations

import gc
import re
import sys
from typing import Any

import click

from .. import __version__
from ..errors import QiError
from .common import EXIT_DATA


# click's usage errors are English; organizers read Chinese. The common ones are translated,
# anything else is shown as click wrote it. Compiled on the first usage error, not at start-up:
# every command pays for this module's import, and a correct command line never needs them.
_USAGE_MESSAGES = (
    (r"^Missing argument '(.+)'\.$", "缺少参数 {0}。"),
    (r"^Missing option '(.+)'\.$", "缺少选项 {0}。"),
    (r"^No such option: (\S+)(?: Did you mean (\S+)\?)?$", "没有选项 {0}。"),
    (r"^No such option '(.+?)'\.(?: Did you mean '(.+)'\?)?$", "没有选项 {0}。"),
    (r"^No such command '(.+)'\.$", "没有命令 {0}。"),
    (r"^Option '(.+)' requires an argument\.$", "选项 {0} 后面需要一个值。"),
    (r"^Got unexpected extra arguments? \((.+)\)$", "多余的参数：{0}。"),
    (r"^Invalid value for '(.+?)': '(.*)' is not one of (.+)\.$", "参数 {0} 的值 {1} 无效，可选：{2}。"),
    (r"^Invalid value for '(.+?)': '(.*)' is not a valid integer\.$", "参数 {0} 的值 {1} 不是整数。"),
    (r"^Invalid value for '(.+?)': (.+) is not in the range (.+)\.$", "参数 {0} 的值 {1} 超出范围 {2}。"),
    (r"^Invalid value for '(.+?)': (?:File|Directory|Path) '(.+)' does not exist\.$", "参数 {0}：{1} 不存在。"),
    (r"^Invalid value for '(.+?)': (?:File|Directory|Path) '(.+)' is a file\.$", "参数 {0}：{1} 是一个文件，这里需要文件夹。"),
    (r"^Invalid value for '(.+?)': (?:File|Directory|Path) '(.+)' is a directory\.$", "参数 {0}：{1} 是一个文件夹，这里需要文件。"),
    (r"^Invalid value for '(.+?)': (?:File|Directory|Path) '(.+)' is not readable\.$", "参数 {0}：没有权限读取 {1}。"),
    (r"^Invalid value for '(.+?)': (?:File|Directory|Path) '(.+)' is not writable\.$", "参数 {0}：没有权限写入 {1}。"),
    (r"^Invalid value for '(.+?)': (.+)$", "参数 {0} 的值无效：{1}"),
)


def _usage_message(error: click.UsageError) -> str:
    text = error.format_message()
    for pattern, chinese in _USAGE_MESSAGES:
        m = re.match(pattern, text)
        if m:
            return chinese.format(*m.groups())
    return text


# click writes its help furniture in English; these are the words an organizer reads instead.
_HEADINGS = {"Options": "选项", "Commands": "命令", "Arguments": "参数"}
_HELP_TEXTS = {
    "Show this message and exit.": "显示本帮助并退出。",
    "Show the version and exit.": "显示版本号并退出。",
}
_HELP_MARKS = (  # patterns for re.sub, compiled (and cached by re) only when help is shown
    (r"\[default: (.*?)\]", r"[默认：\1]"),
    (r"\[required\]", "[必填]"),
    (r"\[default\]", "[默认]"),
    (r"; ", "；"),
)
_METAVARS = (("[OPTIONS]", "[选项]"), ("COMMAND [ARGS]...", "命令 [参数]..."), ("INTEGER RANGE", "整数"),
             ("FLOAT RANGE", "数值"), ("INTEGER", "整数"), ("FLOAT", "数值"), ("NUMBER", "数值"), ("TEXT", "文本"),
             ("BOOLEAN", "是/否"))


def _chinese_metavars(text: str) -> str:
    for english, chinese in _METAVARS:
        text = text.replace(english, chinese)
    return text


def _display_width(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


_NO_LINE_START = set("，。；：、！？）》」』”’%")


def _wrap(text: str, width: int) -> list[str]:
    """Greedy wrap by display width; Latin words and numbers are never split."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for token in re.findall(r"\[[^\]\n]*\]|[\x21-\x7e]+|\s+|.", paragraph):
            if line and _display_width(line + token) > width and token not in _NO_LINE_START:
                lines.append(line.rstrip())
                line = "" if token.isspace() else token
            else:
                line += token
        lines.append(line.rstrip())
    return lines


class ChineseHelpFormatter(click.HelpFormatter):
    """``--help`` in Chinese: 用法/选项/命令, the help option's own line, [默认：…]."""

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, _chinese_metavars(args), prefix="用法：")

    def write_heading(self, heading: str) -> None:
        self.write(f"{'':>{self.current_indent}}{_HEADINGS.get(heading, heading)}：\n")

    def write_dl(self, rows: Any, col_max: int = 30, col_spacing: int = 2) -> None:
        """Two columns aligned by display width (a Chinese character takes two columns)."""
        items = []
        for first, second in rows:
            second = _HELP_TEXTS.get(second, second)
            if "[" in second:
                for pattern, chinese in _HELP_MARKS:
                    second = re.sub(pattern, chinese, second)
            items.append((_chinese_metavars(first), second))
        if not items:
            return
        first_col = min(max(_display_width(a) for a, _ in items), col_max) + col_spacing
        room = max(self.width - first_col - self.current_indent, 20)
        for first, second in items:
            self.write(f"{'':>{self.current_indent}}{first}")
            if not second:
                self.write("\n")
                continue
            if _display_width(first) <= first_col - col_spacing:
                self.write(" " * (first_col - _display_width(first)))
            else:
                self.write("\n" + " " * (first_col + self.current_indent))
            lines = _wrap(second, room)
            self.write(lines[0] + "\n")
            for line in lines[1:]:
                self.write(" " * (first_col + self.current_indent) + line + "\n")


class _Context(click.Context):
    formatter_class = ChineseHelpFormatter


class _Command(click.Command):
    context_class = _Context


class _Group(click.Group):
    context_class = _Context
    command_class = _Command
    group_class = type  # subgroups (templates) are of this class too

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Show usage errors in Chinese, with where to find help."""
        standalone = kwargs.pop("standalone_mode", True)
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[call-overload]
        except click.UsageError as err:
            if not standalone:
                raise
            no_args = getattr(click.exceptions, "NoArgsIsHelpError", None)
            if (no_args is not None and isinstance(err, no_args)) and err.ctx is not None:
                click.echo(err.ctx.get_help())  # ``qi-excel`` alone: the help, as a request, not an error
                sys.exit(0)
            command = err.ctx.command_path if err.ctx else "qi-excel"
            click.echo(f"错误：{_usage_message(err)}\n运行 {command} --help 查看用法。", err=True)
            sys.exit(err.exit_code)
        except click.Abort:
            if not standalone:
                raise
            click.echo("已取消。", err=True)
            sys.exit(1)
        except click.ClickException as err:
            if not standalone:
                raise
            click.echo(f"错误：{err.format_message()}", err=True)
            sys.exit(err.exit_code)
        if standalone:
            sys.exit(rv if isinstance(rv, int) else 0)
        return rv

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except QiError as err:
            click.echo(f"错误：{err}", err=True)
            sys.exit(err.exit_code)
        except OSError as err:  # a file problem no layer anticipated: still Chinese, no traceback
            from ..errors import os_error_text

            where = f" {err.filename}" if err.filename else ""
            click.echo(f"错误：无法访问{where}：{os_error_text(err)}。", err=True)
            sys.exit(EXIT_DATA)

    def list_commands(self, ctx: click.Context) -> list[str]:
        if self is not main:
            return list(self.commands)
        return list(_COMMANDS)  # keep the workflow order, not alphabetical

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if self is main and cmd_name not in self.commands and cmd_name in _COMMANDS:
            _load(_COMMANDS[cmd_name])
        return self.commands.get(cmd_name)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="qi-excel", message="%(prog)s %(version)s")
def main() -> None:
    """质量基础设施“一站式”服务评价工具：评价表、专家评分工作簿、回收检查、汇总与评价报告。"""


# Each command lives in a module that registers it on ``main`` when imported. A run imports
# only the module of the command it runs (``qi-excel status`` does not pay for the commands
# it does not use); ``--help`` and ``all_commands`` import them all. The order here is the
# workflow order shown by ``--help``.
_COMMANDS = {
    "rubric": "rubric_cmd",
    "new": "evaluation_cmd",
    "issue": "evaluation_cmd",
    "collect": "collect_cmd",
    "status": "collect_cmd",
    "excuse": "excuse_cmd",
    "consolidate": "consolidate_cmd",
    "application": "documents_cmd",
    "report": "documents_cmd",
    "templates": "documents_cmd",
    "archive": "documents_cmd",
    "demo": "demo_cmd",
    "review": "procedure_cmd",
    "plan": "procedure_cmd",
    "signin": "procedure_cmd",
    "pledge": "procedure_cmd",
    "remind": "procedure_cmd",
    "ui": "ui_cmd",
    "export": "office_cmd",
    "register": "office_cmd",
    "log": "office_cmd",
}


def _load(module: str) -> None:
    import importlib

    importlib.import_module(f"{__name__}.{module}")
    if module == "demo_cmd":
        # Folder commands are logged by the handle (Evaluation.action); demo runs the library
        # itself, so its run is recorded here.
        from .office_cmd import install_audit

        install_audit(main, ("demo",))


def all_commands() -> dict[str, click.Command]:
    """Every top-level command, in workflow order (imports every command module)."""
    for module in dict.fromkeys(_COMMANDS.values()):
        _load(module)
    return {name: main.commands[name] for name in _COMMANDS}


def run() -> None:
    """The ``qi-excel`` program: one command, then the process ends.

    Everything made while starting up (the modules, click's command table) lives until exit;
    frozen, no collection during the run, nor the one at exit, walks it again (~3 ms of a
    fresh ``collect``), and the youngest generation is collected less often while the command
    imports what it needs. Only the program does this: ``main`` called in a longer-lived
    process (the tests, a script) leaves the collector alone.
    """
    gc.freeze()
    gc.set_threshold(10_000, *gc.get_threshold()[1:])
    main()
