"""A third-party command with its own config section ([plugins.greeter]) and its own storage."""

from __future__ import annotations

from chatops.schema import Field

from chatops.command import Context, command
from chatops.config import Section


class Settings(Section):
    greeting: str = Field("Hello", description="the word the greeting starts with")


CONFIG = ("greeter", Settings)


@command("greet", permission="help")
async def greet(ctx: Context) -> str:
    """Greet the sender and count the greetings."""
    count = await ctx.plugin.storage.get("count", 0) + 1
    await ctx.plugin.storage.set("count", count)
    return f"{ctx.plugin.settings.greeting}, {ctx.who}! (greeting number {count})"
