"""Who sent an IRC line: the full hostmask, and the services account the server vouches for.

A nick proves nothing, so an account is taken only from what the server says now: the
`account` tag of the line itself (account-tag), or what extended-join, account-notify, WHOX
and CHGHOST told us about that exact `nick!user@host`. What is tracked is forgotten as soon
as the nick stops sharing a channel with us, quits or logs out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import irc3.tags
from irc3.utils import IrcString

from chatops.message import Identity


class Roster:
    """The nicks sharing a channel with us on one connection, and their accounts.

    `fold` is the connection's case folding (it follows the server's CASEMAPPING) and `caps`
    its negotiated capabilities, the very set the connection updates.
    """

    def __init__(self, fold: Callable[[str], str], caps: set[str]) -> None:
        self.fold = fold
        self.caps = caps
        self.seen: dict[str, set[str]] = {}             # folded nick -> folded channels shared with us
        self.accounts: dict[str, tuple[str, str]] = {}  # folded nick -> (full mask, account)

    def identity(self, mask: IrcString, tags: str | None) -> Identity:
        """The sender of a line from `mask`, carrying `tags` (None when it had none)."""
        return Identity("irc", str(mask), display=str(mask.nick), account=self.account_of(mask, tags))

    def account_of(self, mask: IrcString, tags: str | None) -> str | None:
        """The services account of `mask`, only from what the server vouches for now."""
        if "account-tag" in self.caps:
            account = irc3.tags.decode(tags).get("account") if tags else None
            return str(account) if account and account != "*" else None
        if "account-notify" in self.caps:
            entry = self.accounts.get(self.fold(str(mask.nick)))
            if entry and entry[0] == str(mask):
                return entry[1]
        return None

    # ---- what the server tells us ----

    def names(self, channel: str, names: Iterable[str]) -> None:
        """A NAMES reply (353): these nicks, with their status prefixes, are in `channel`."""
        folded = self.fold(channel)
        for name in names:
            nick = self.fold(name.lstrip("~&@%+!."))
            if nick:
                self.seen.setdefault(nick, set()).add(folded)

    def whox(self, user: str, host: str, nick: str, account: str) -> None:
        """A reply (354) to our WHOX query: the account of `nick!user@host` ("0": none)."""
        if account != "0":
            self.accounts[self.fold(nick)] = (f"{nick}!{user}@{host}", account)

    def joined(self, mask: IrcString, channel: str, account: str | None) -> None:
        """`mask` joined `channel`; `account` is extended-join's, believed only when negotiated."""
        self.seen.setdefault(self.fold(str(mask.nick)), set()).add(self.fold(channel))
        if "extended-join" in self.caps and account:
            self.set_account(mask, account)

    def set_account(self, mask: IrcString, account: str) -> None:
        """`mask` logged in as `account` (ACCOUNT, extended-join), or out ("*", "0")."""
        folded = self.fold(str(mask.nick))
        if account in ("*", "0"):
            self.accounts.pop(folded, None)
        else:
            self.accounts[folded] = (str(mask), str(account))

    def renamed(self, old: str, new: str) -> None:
        """`old` is now known as `new`: same person, same account, new mask."""
        folded_old, folded_new = self.fold(old), self.fold(new)
        if folded_old in self.seen:
            self.seen[folded_new] = self.seen.pop(folded_old)
        entry = self.accounts.pop(folded_old, None)
        if entry:
            self.accounts[folded_new] = (f"{new}!{entry[0].split('!', 1)[1]}", entry[1])

    def rehosted(self, nick: str, user: str, host: str) -> None:
        """CHGHOST: `nick` is now `nick!user@host`, still logged in as before."""
        entry = self.accounts.get(self.fold(nick))
        if entry:
            self.accounts[self.fold(nick)] = (f"{nick}!{user}@{host}", entry[1])

    def forget(self, nick: str, channel: str | None) -> None:
        """`nick` left `channel` (None: quit); once no channel is shared, forget them."""
        folded = self.fold(nick)
        where = self.seen.get(folded, set())
        if channel is not None:
            where.discard(self.fold(channel))
        if channel is None or not where:
            self.seen.pop(folded, None)
            self.accounts.pop(folded, None)

    def left(self, channel: str) -> None:
        """We left `channel`: whoever we saw only there is forgotten."""
        folded = self.fold(channel)
        for nick in [n for n, where in self.seen.items() if folded in where]:
            self.forget(nick, channel)
