"""``qi-excel ui``: the local web page for organizers who never open a terminal."""

from __future__ import annotations

from pathlib import Path

import click

from . import main

DEFAULT_WORKSPACE = "~/qi-excel评价"


@main.command("ui")
@click.argument("workspace", required=False, type=click.Path(file_okay=False))
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="端口号；0 表示自动选择一个空闲端口。")
@click.option("--no-browser", is_flag=True, help="不自动打开浏览器（只显示网址）。")
def ui_command(workspace: str | None, port: int, no_browser: bool) -> None:
    """在浏览器中进行评价：启动只供本机访问的网页，列出 WORKSPACE 中的全部评价。

    WORKSPACE 是存放评价文件夹的文件夹，默认为用户主目录下的“qi-excel评价”。
    用 qi-excel new 建立在其中的评价文件夹同样会列出。按 Ctrl+C 停止。
    """
    import webbrowser

    from ..errors import QiError

    root = Path(workspace or DEFAULT_WORKSPACE).expanduser()
    if root.exists() and not root.is_dir():
        raise QiError(f"{root} 不是文件夹。")
    try:
        from .. import web  # noqa: F401 - Flask and waitress load only for this command
        from ..web.server import serve
    except ImportError as err:
        raise QiError(f"缺少网页所需的组件（{err.name}）：请重新安装 qi-excel（pip install qi-excel）。") from None

    def ready(url: str) -> None:
        click.echo(f"评价工作区：{root.resolve()}")
        click.echo(f"请在浏览器中打开：{url}")
        click.echo("（网址中含访问令牌，只在本机有效，请勿发给他人；按 Ctrl+C 停止。）")
        if not no_browser:
            webbrowser.open(url)

    try:
        serve(root, port, on_ready=ready)
    except OSError as err:
        raise QiError(f"无法在端口 {port} 启动网页（{err.strerror or err}）：可能已被占用，请换一个端口或用 --port 0。") from None
    click.echo("已停止。")
