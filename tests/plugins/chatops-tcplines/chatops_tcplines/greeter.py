"""A third-party command with its own config section ([plugins.greeter]), its own storage and
its own French catalogue (locale/, built with python -m chatops.i18n_catalogue --plugin chatops_tcplines)."""

from __future__ import annotations

from chatops.schema import Field

from chatops.command import Context, command
from chatops.config import Section
from chatops.i18n import translator

_ = translator(__name__)       # this plugin's own catalogue (locale/), in the reader's language


class Settings(Section):
    greeting: str = Field("Hello", description="the word the greeting starts with")


CONFIG = ("greeter", Settings)


@command("greet", permission="help")
async def greet(ctx: Context) -> str:
    """Greet the sender and count the greetings."""
    count = await ctx.plugin.storage.get("count", 0) + 1
    await ctx.plugin.storage.set("count", count)
    return _("{greeting}, {who}! (greeting number {count})").format(
        greeting=ctx.plugin.settings.greeting, who=ctx.who, count=count)
