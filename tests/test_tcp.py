"""chatops.tcp: the hub acknowledges a server's bytes at once (TCP_QUICKACK), on a real socket."""

from __future__ import annotations

import socket

import pytest

from chatops.tcp import ack_now


@pytest.mark.skipif(not hasattr(socket, "TCP_QUICKACK"), reason="TCP_QUICKACK is Linux's")
def test_a_read_socket_is_put_in_quick_ack_mode_and_a_closed_one_is_left_alone() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        peer, _ = server.accept()
        with client, peer:
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 0)     # delayed ACKs, as after a while
            peer.sendall(b"PING :x\r\n")
            assert client.recv(64) == b"PING :x\r\n"
            ack_now(client)
            assert client.getsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK) == 1
    ack_now(client)                     # closed: nothing to acknowledge, no error
    ack_now(None)
