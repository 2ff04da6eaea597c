"""Which account on this machine is at the other end of a loopback TCP connection.

Loopback proves that a request came from this machine, not from whom: every local account (a
guest login, a compromised service, a container sharing the host's network) reaches a port on
127.0.0.1. The web server without a token answers the hub's own account (and root, which can
read the hub's secrets anyway) plus the accounts `[web] local_users` names, and asks everyone
else for the token. On Linux the kernel says who owns the client's end of the connection in
/proc/net/tcp and /proc/net/tcp6: the row whose local address is the client's carries its uid.
"""

from __future__ import annotations

import ipaddress
import os
import pwd
import struct
from pathlib import Path

PROC_NET = Path("/proc/net")


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """`host` as the client's own socket has it: an IPv4 client of a dual-stack listener is
    seen as ::ffff:127.0.0.1 there, and is in /proc/net/tcp as 127.0.0.1."""
    address = ipaddress.ip_address(host.split("%", 1)[0])
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped if mapped is not None else address


def _hex(address: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int) -> str:
    """`address:port` as /proc/net/tcp{,6} writes it: each 32-bit word in the machine's byte order."""
    packed = address.packed
    return "".join(f"{word:08X}" for word in struct.unpack(f"={len(packed) // 4}I", packed)) + f":{port:04X}"


def owner_of(client: tuple[str, int], server: tuple[str, int], proc_net: Path = PROC_NET) -> int | None:
    """The uid owning the client end of the connection `client` → `server` (as the server's
    socket sees them), or None when the kernel does not say (no /proc, a closed connection)."""
    near, far = _address(client[0]), _address(server[0])
    table = "tcp6" if near.version == 6 else "tcp"
    wanted_local, wanted_remote = _hex(near, client[1]), _hex(far, server[1])
    try:
        lines = (proc_net / table).read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) > 7 and fields[1] == wanted_local and fields[2] == wanted_remote:
            return int(fields[7])
    return None


def kernel_tells_owners(proc_net: Path = PROC_NET) -> bool:
    """Whether this kernel shows who owns each connection (Linux's /proc/net/tcp)."""
    return (proc_net / "tcp").exists()


def account_uids(names: list[str]) -> frozenset[int]:
    """The uids that may use the web server on loopback without a token: this process's own,
    root's, and those of the accounts named (KeyError names an account this machine lacks)."""
    return frozenset({os.getuid(), 0, *(pwd.getpwnam(name).pw_uid for name in names)})


def account_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
