"""Our IRC channels and the people in them: joining with keys, rejoining after a kick or a
refused join, and the JOIN/PART/KICK/QUIT/NICK/ACCOUNT/CHGHOST lines that move people (and
us) in, out and around, kept in the link's Roster so senders are recognised.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from irc3.utils import IrcString

from adapters.irc_lines import WHOX_TOKEN

if TYPE_CHECKING:
    from adapters.irc import Adapter
    from adapters.irc_link import Link

log = logging.getLogger(__name__)


class Channels:
    """The configured channels of `adapter`, and the membership lines of each link."""

    def __init__(self, adapter: Adapter) -> None:
        self.adapter = adapter
        self.keys: dict[str, str] = {}                  # channel name as configured -> its key

    def join(self, link: Link, channel: str) -> None:
        if link.lost.done():
            return
        # By the server's folding: a kick names `#famille` for the configured `#Famille`.
        key = next((k for name, k in self.keys.items() if link.fold(name) == link.fold(channel)), None)
        link.out.enqueue([f"JOIN {channel} {key}" if key else f"JOIN {channel}"])

    def configured(self, link: Link, channel: str) -> bool:
        """Whether `channel` is one we are configured to sit in (and so to get back into)."""
        return any(link.fold(channel) == link.fold(c.name) for c in self.adapter.settings.channels)

    def later(self, link: Link, delay: float, action: Callable[[], None]) -> None:
        """Run `action` after `delay` unless the link is lost by then."""
        def fire() -> None:
            try:
                if not link.lost.done():
                    action()
            except Exception:
                log.exception("IRC %s: timer failed", self.adapter.name)
        link.timers.append(asyncio.get_running_loop().call_later(delay, fire))

    def join_refused(self, link: Link, channel: str, reason: str) -> None:
        """A JOIN error numeric: try a configured channel again, at most once a minute."""
        log.warning("IRC %s: cannot join %s: %s", self.adapter.name, channel, reason)
        if self.configured(link, channel):
            self.later(link, max(60.0, self.adapter.settings.rejoin_delay), lambda: self.join(link, channel))

    # ---- handlers (irc3 events, given the current link) ----

    def on_join(self, link: Link, channel: str, source: str | None = None, account: str | None = None,
                **_: Any) -> None:
        if not source:
            return
        mask = IrcString(source)
        if link.is_me(str(mask.nick)):
            link.mask = str(mask)
            link.joined[link.fold(channel)] = str(channel)
            link.join_seen.set()
            log.info("IRC %s joined %s", self.adapter.name, channel)
            if "WHOX" in link.isupport and "account-notify" in link.caps:
                link.out.enqueue([f"WHO {channel} %tuhna,{WHOX_TOKEN}"])
            self.adapter.show_health(link)
            return
        link.roster.joined(mask, channel, account)

    def on_part(self, link: Link, channel: str, source: str | None = None, **_: Any) -> None:
        if not source:
            return
        nick = str(IrcString(source).nick)
        if link.is_me(nick):
            self.left(link, channel)
        else:
            link.roster.forget(nick, channel)

    def on_kick(self, link: Link, channel: str, target: str, data: str | None = None, **_: Any) -> None:
        if link.is_me(target):
            delay = self.adapter.settings.rejoin_delay
            log.warning("IRC %s: kicked from %s (%s); rejoining in %gs", self.adapter.name, channel, data, delay)
            self.left(link, channel)
            if self.configured(link, channel):
                self.later(link, delay, lambda: self.join(link, channel))
        else:
            link.roster.forget(str(target), channel)

    def left(self, link: Link, channel: str) -> None:
        link.joined.pop(link.fold(channel), None)
        link.roster.left(channel)
        self.adapter.show_health(link)

    def on_quit(self, link: Link, source: str | None = None, **_: Any) -> None:
        if not source:
            return
        nick = str(IrcString(source).nick)
        link.roster.forget(nick, None)
        self.adapter.registration.reclaim(link, nick)

    def on_nick(self, link: Link, new: str, source: str | None = None, **_: Any) -> None:
        if not source:
            return
        old = str(IrcString(source).nick)
        if link.is_me(old):
            self.adapter.registration.set_nick(link, str(new))
            if link.mask:
                link.mask = f"{new}!{link.mask.split('!', 1)[1]}"
            log.info("IRC %s: now known as %s", self.adapter.name, new)
            self.adapter.show_health(link)
            return
        link.roster.renamed(old, str(new))
        self.adapter.registration.reclaim(link, old)

    def on_account(self, link: Link, account: str, source: str | None = None, **_: Any) -> None:
        if source:
            link.roster.set_account(IrcString(source), account)

    def on_chghost(self, link: Link, user: str, host: str, source: str | None = None, **_: Any) -> None:
        if not source:
            return
        nick = str(IrcString(source).nick)
        if link.is_me(nick):
            link.mask = f"{nick}!{user}@{host}"
            return
        link.roster.rehosted(nick, user, host)
