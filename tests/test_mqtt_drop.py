"""What a publish reports when the connection drops around its acknowledgement.

mosquitto cannot be made to send one PUBACK and close the socket in the same breath, so a
scripted broker (just enough MQTT 3.1.1: CONNACK, PUBACK) plays that part here; the ordinary
broker crash is tested against mosquitto in test_e2e_core.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chatops.config import MqttSettings
from chatops.mqtt import MqttLink, MqttUnavailable, broker_address

STATUS_TOPIC = "chatops/drop-test/status"


async def read_packet(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """(packet type, body) of the next MQTT control packet."""
    kind = (await reader.readexactly(1))[0] >> 4
    length, shift = 0, 0
    while True:
        byte = (await reader.readexactly(1))[0]
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return kind, await reader.readexactly(length)


def publish_topic_and_id(body: bytes) -> tuple[str, bytes]:
    """Topic and packet id of a QoS 1 PUBLISH body."""
    size = int.from_bytes(body[:2], "big")
    return body[2:2 + size].decode(), body[2 + size:4 + size]


class AckThenDropBroker:
    """Acknowledges every publish but on `drop_topic`, whose arrival makes it acknowledge
    `acked_topic` and close the connection in a single write."""

    def __init__(self, acked_topic: str, drop_topic: str) -> None:
        self.acked_topic = acked_topic
        self.drop_topic = drop_topic

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await read_packet(reader)                       # CONNECT
            writer.write(b"\x20\x02\x00\x00")               # CONNACK, accepted
            held: bytes | None = None
            while True:
                kind, body = await read_packet(reader)
                if kind != 3:                                # only PUBLISH matters here
                    continue
                topic, packet_id = publish_topic_and_id(body)
                if topic == self.acked_topic:
                    held = packet_id
                elif topic == self.drop_topic and held is not None:
                    writer.write(b"\x40\x02" + held)         # PUBACK for the held one...
                    writer.close()                           # ...and gone, before the other's ack
                    return
                else:
                    writer.write(b"\x40\x02" + packet_id)
        except asyncio.IncompleteReadError:
            writer.close()


@pytest.fixture
async def link_to_dropping_broker() -> AsyncIterator[MqttLink]:
    broker = AckThenDropBroker("test/acked", "test/dropped")
    server = await asyncio.start_server(broker.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = MqttSettings(url=f"mqtt://127.0.0.1:{port}", backoff_max="1s")
    link = MqttLink(settings, "drop-test", STATUS_TOPIC)
    async with server, asyncio.TaskGroup() as tasks:
        runner = tasks.create_task(link.run(broker_address(settings, Path("."))))
        async with asyncio.timeout(10):
            await link.connected.wait()
        yield link
        runner.cancel()


async def outcome(link: MqttLink, topic: str) -> str:
    try:
        await link.publish(topic, b"1", wait=30)
    except MqttUnavailable as exc:
        return str(exc)
    return "published"


async def test_a_publish_acknowledged_as_the_connection_drops_is_reported_published(
        link_to_dropping_broker: MqttLink) -> None:
    link = link_to_dropping_broker
    async with asyncio.timeout(10), asyncio.TaskGroup() as tasks:
        acked = tasks.create_task(outcome(link, "test/acked"))
        await asyncio.sleep(0)                      # the first publish is on the wire, unacknowledged
        dropped = await outcome(link, "test/dropped")
    assert acked.result() == "published"
    assert dropped == "MQTT publish failed: the connection dropped before the broker confirmed it"
    assert not link._pending and not link._aborted
    assert asyncio.current_task().cancelling() == 0   # type: ignore[union-attr]
