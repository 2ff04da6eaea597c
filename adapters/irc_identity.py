"""Who sent an IRC line, and who holds a nick: the full hostmask, and the services account
the server vouches for.

A nick proves nothing, so an account is taken only from what the server says now: the
`account` tag of the line itself (account-tag), or what extended-join, account-notify, WHOX
and CHGHOST told us about that exact `nick!user@host`. What is tracked is forgotten as soon
as the nick stops sharing a channel with us, quits or logs out. Before an alert goes to a
person, a WHOIS asks the server who holds their nick right now.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass

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

    def identity(self, mask: IrcString, tags: str | None, nick: str | None = None) -> Identity:
        """The sender of a line from `mask` (`nick` its nick, when the caller has it already),
        carrying `tags` (None when it had none)."""
        host = str(mask).rpartition("@")[2]
        nick = str(mask.nick) if nick is None else nick
        return Identity("irc", str(mask), display=nick, account=self.account_of(mask, tags, nick),
                        flood_key=f"irc:*!*@{host}" if host else None)     # a /nick starts no fresh bucket

    def account_of(self, mask: IrcString, tags: str | None, nick: str | None = None) -> str | None:
        """The services account of `mask`, only from what the server vouches for now."""
        if "account-tag" in self.caps:
            account = irc3.tags.decode(tags).get("account") if tags else None
            return str(account) if account and account != "*" else None
        if "account-notify" in self.caps:
            entry = self.accounts.get(self.fold(str(mask.nick) if nick is None else nick))
            if entry and entry[0] == str(mask):
                return entry[1]
        return None

    def nick_of(self, account: str) -> str | None:
        """A nick we see logged in as `account` (from account-notify / extended-join / WHOX)."""
        wanted = account.casefold()
        return next((mask.split("!", 1)[0] for mask, acct in self.accounts.values()
                     if acct.casefold() == wanted), None)

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


@dataclass
class Holder:
    """What a WHOIS said of a nick: its full mask (None: nobody has it) and services account."""

    mask: str | None = None
    account: str | None = None


class Whois:
    """WHOIS queries in flight on one connection, answered from 311 (nick!user@host), 330
    (logged in as) and ended by 318 (end) or 401 (no such nick). Queries for the same nick at
    once share one answer."""

    def __init__(self, fold: Callable[[str], str]) -> None:
        self.fold = fold
        self.pending: dict[str, tuple[Holder, asyncio.Future[Holder]]] = {}

    async def ask(self, nick: str, send: Callable[[str], object], timeout: float) -> Holder:
        """Who holds `nick` now; `send` writes the query line. TimeoutError after `timeout`."""
        key = self.fold(nick)
        entry = self.pending.get(key)
        if entry is None:
            entry = self.pending[key] = (Holder(), asyncio.get_running_loop().create_future())
            written = send(f"WHOIS {nick}")
            if isinstance(written, asyncio.Future):     # fails with the connection: the ask fails too
                written.add_done_callback(lambda f: f.cancelled() or f.exception())
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(entry[1])
        except (TimeoutError, asyncio.CancelledError):
            if self.pending.get(key) is entry:          # the next ask sends a fresh query
                del self.pending[key]
            raise

    def on_numeric(self, code: str, args: list[str]) -> bool:
        """Take a WHOIS numeric about a nick we asked for; False when it is not one."""
        if code not in ("311", "330", "318", "401") or not args:
            return False
        entry = self.pending.get(self.fold(args[0]))
        if entry is None:
            return False
        holder, future = entry
        if code == "311" and len(args) >= 3:
            holder.mask = f"{args[0]}!{args[1]}@{args[2]}"
        elif code == "330" and len(args) >= 2:
            holder.account = args[1]
        elif code in ("318", "401"):
            del self.pending[self.fold(args[0])]
            if code == "401":
                holder.mask = holder.account = None
            if not future.done():
                future.set_result(holder)
        return True

    def fail(self, error: Exception) -> None:
        """The connection is gone: every waiting query gets `error`."""
        for _holder, future in self.pending.values():
            if not future.done():
                future.set_exception(error)
        self.pending.clear()
