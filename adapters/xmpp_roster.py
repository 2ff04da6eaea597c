"""What slixmpp remembers of a stranger's presence: nothing.

slixmpp keeps a roster node and a roster item for every JID whose presence reaches the hub
(BaseXMPP._handle_presence asks `roster[from]`, then `handle_available` files each resource),
and directed presence reaches a full JID from anyone, no subscription needed (RFC 6121 4.6). A
stranger's server sending presence from ever new JIDs, or one JID with ever new resources, grew
the hub's memory by about 1.3 kB a JID, without limit. Kept: the hub's own JID, configured users,
the rooms, and whoever the server's roster lists with a subscription (either way, or asked for by
the hub); anyone else's entries are dropped once slixmpp has handled their presence (their
subscription request is answered first, by the adapter's own handler)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chatops.message import Identity

if TYPE_CHECKING:
    from adapters.xmpp import Adapter


def forget_strangers(xmpp: Any, adapter: Adapter) -> None:
    """Wrap slixmpp's presence handler so that a stranger's presence leaves no roster entry."""
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher import StanzaPath

    handle = xmpp._handle_presence

    def handled(presence: Any) -> None:
        try:
            handle(presence)
        finally:
            _forget(xmpp, adapter, presence)
    xmpp.remove_handler("Presence")
    xmpp.register_handler(Callback("Presence", StanzaPath("presence"), handled))


def _kept(adapter: Adapter, bare: str) -> bool:
    hub = adapter._hub
    return bare in adapter.rooms or (hub is not None and hub.auth.user_for(Identity("xmpp", bare)) is not None)


def _forget(xmpp: Any, adapter: Adapter, presence: Any) -> None:
    own = str(xmpp.boundjid.bare)
    rosters = xmpp.roster._rosters
    try:
        bare, to = str(presence["from"].bare), str(presence["to"].bare)
    except Exception:           # an address slixmpp cannot read: it made no entry of it either
        return
    if to and to != own:
        rosters.pop(to, None)   # a node for whatever the stanza claims it was sent to
    if not bare or bare == own or _kept(adapter, bare):
        return
    node = rosters.get(own)
    item = node._jids.get(bare) if node is not None else None
    if item is not None and (item["from"] or item["to"] or item["pending_out"]):
        return                  # on the account's roster (a subscription): the server's to say
    if node is not None:
        node._jids.pop(bare, None)
    rosters.pop(bare, None)
