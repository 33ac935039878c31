"""The ``qi-excel`` command line: a thin layer over the library.

Each command parses options, calls one library function and prints. Heavy libraries are
imported inside the commands so ``qi-excel --help`` answers at once. A ``QiError`` becomes
its Chinese message and an exit code, never a traceback.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from .. import __version__
from ..errors import QiError


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except QiError as err:
            click.echo(f"错误：{err}", err=True)
            sys.exit(err.exit_code)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)  # keep the workflow order, not alphabetical


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="qi-excel", message="%(prog)s %(version)s")
def main() -> None:
    """质量基础设施“一站式”服务评价工具：评价表、专家评分工作簿、回收检查、汇总与评价报告。"""


# Command modules register themselves on ``main``; the order here is the workflow order.
from . import rubric_cmd  # noqa: E402,F401
from . import evaluation_cmd  # noqa: E402,F401
from . import collect_cmd  # noqa: E402,F401
from . import consolidate_cmd  # noqa: E402,F401
from . import documents_cmd  # noqa: E402,F401
from . import demo_cmd  # noqa: E402,F401
