"""The closed-loop switch on a mosquitto left at its defaults (`set_tcp_nodelay false`, as Debian ships it).

A QoS 1 command whose device echoes at once used to meet Nagle on the broker and delayed ACK on
the hub (a 40 ms stall per switch). The command now goes at QoS 0, its state topic being the
confirmation; these tests pin that choice and what the user sees. Timings live in bench.latency.
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import aiomqtt

from chatops.config import MqttSettings
from chatops.hub import Hub, running
from chatops.mqtt import MqttLink, broker_address
from chatops.testing import Mosquitto, exec_command, settings_for


async def test_switch_is_confirmed_and_its_command_went_at_qos_0(tmp_path: Path, mosquitto: Mosquitto) -> None:
    assert "set_tcp_nodelay" not in mosquitto.conf.read_text(), "the broker must be a stock one"
    settings = settings_for(tmp_path, mosquitto.url, simulator={"enabled": False})
    commands: list[tuple[bytes, int]] = []
    async with running(Hub(settings, tty=False)) as hub, \
            aiomqtt.Client("127.0.0.1", mosquitto.port) as device:
        await device.subscribe("zigbee2mqtt/heater/set", qos=1)   # delivered at min(publish, 1)

        async def heater() -> None:                               # echoes its new state at once
            async for msg in device.messages:
                payload = bytes(msg.payload) if isinstance(msg.payload, (bytes, bytearray)) else b""
                commands.append((payload, msg.qos))
                state = json.loads(payload)["state"]
                await device.publish("zigbee2mqtt/heater", json.dumps({"state": state}), qos=1, retain=True)

        echo = asyncio.get_running_loop().create_task(heater())
        try:
            assert await exec_command(hub, "switch heater on") == "heater is ON"
            assert await exec_command(hub, "switch heater off") == "heater is OFF"
        finally:
            echo.cancel()
    assert commands == [(b'{"state": "ON"}', 0), (b'{"state": "OFF"}', 0)]


async def test_unanswered_switch_says_so_and_never_claims_the_state(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """A QoS 0 command nobody acts on: the user hears it was not confirmed, not that it worked."""
    settings = settings_for(tmp_path, mosquitto.url, simulator={"enabled": False},
                            devices={"heater": {"confirm_timeout": "1s"}})
    async with running(Hub(settings, tty=False)) as hub:
        reply = await exec_command(hub, "switch heater on")
    assert reply.startswith("No confirmation from heater after 1s (asked ON, last state"), reply


async def assert_not_watched_for_writing(link: MqttLink) -> None:
    """Once paho's requests to the loop have landed, the MQTT socket, with nothing to write, is
    not watched for writing (such a watch fires on every loop turn: a core spinning while idle)."""
    for _ in range(5):                          # the turns in which those requests land
        await asyncio.sleep(0)
    paho = link._client._client                 # type: ignore[union-attr]
    assert not paho.want_write()
    assert not asyncio.get_running_loop().remove_writer(paho.socket().fileno()), \
        "the MQTT socket is still watched for writing with nothing to write"


async def test_a_command_written_at_once_leaves_the_loop_idle(mosquitto: Mosquitto) -> None:
    """`MqttLink.send_now` writes through paho in the calling turn. It once let paho ask aiomqtt
    (thread-safely, so one turn later) to watch the socket for writing; left there, that watch
    fired on every loop turn (a writable socket): the hub spun a core while idle after a switch."""
    settings = MqttSettings(url=mosquitto.url)
    link = MqttLink(settings, "spin-test", "chatops/spin-test/status")
    heard = asyncio.Event()
    async with asyncio.TaskGroup() as tasks:
        runner = tasks.create_task(link.run(broker_address(settings, Path("."))))
        async with asyncio.timeout(10):
            await link.connected.wait()
            await link.subscribe("test/spin", lambda _t, _p, _r: heard.set())
            await link.send_now("test/spin", b"on")
            await heard.wait()                  # written, through the broker and back
        await assert_not_watched_for_writing(link)
        runner.cancel()


async def test_commands_the_socket_cannot_take_at_once_still_all_go_out(mosquitto: Mosquitto) -> None:
    """While the broker is frozen (SIGSTOP) the hub's socket fills: `send_now` hands what paho
    could not write to aiomqtt, which writes it once the broker reads again. Nothing is lost
    and nothing is sent twice."""
    settings = MqttSettings(url=mosquitto.url, max_payload=1 << 20)
    link = MqttLink(settings, "full-socket", "chatops/full-socket/status")
    heard: list[bytes] = []
    all_heard = asyncio.Event()
    count, size = 24, 256 * 1024                 # 6 MiB: more than loopback's socket buffers hold

    def on_message(_topic: str, payload: bytes, _retained: bool) -> None:
        heard.append(payload[:8])
        if len(heard) == count:
            all_heard.set()

    assert mosquitto.proc is not None
    async with asyncio.TaskGroup() as tasks:
        runner = tasks.create_task(link.run(broker_address(settings, Path("."))))
        async with asyncio.timeout(60):
            await link.connected.wait()
            await link.subscribe("test/full", on_message)
            paho = link._client._client             # type: ignore[union-attr]
            mosquitto.proc.send_signal(signal.SIGSTOP)
            try:
                for number in range(count):
                    await link.send_now("test/full", f"{number:08d}".encode() + bytes(size - 8))
                assert paho.want_write(), "the socket took everything: the test proves nothing"
            finally:
                mosquitto.proc.send_signal(signal.SIGCONT)
            await all_heard.wait()
        assert heard == [f"{number:08d}".encode() for number in range(count)]
        runner.cancel()


async def test_a_command_written_with_an_earlier_publish_leaves_the_loop_idle(mosquitto: Mosquitto) -> None:
    """An ordinary publish asks aiomqtt to watch the socket one turn late; a command written in
    between writes both, and the late watch must not stay behind (it fired on every turn until
    some later write cleared it). A QoS 0 listener elsewhere, so no PUBACK of ours clears it."""
    settings = MqttSettings(url=mosquitto.url)
    link = MqttLink(settings, "spin-test-2", "chatops/spin-test-2/status")
    async with asyncio.TaskGroup() as tasks, aiomqtt.Client("127.0.0.1", mosquitto.port) as listener:
        await listener.subscribe("test/spin2", qos=0)
        runner = tasks.create_task(link.run(broker_address(settings, Path("."))))
        async with asyncio.timeout(10):
            await link.connected.wait()
            ordinary = tasks.create_task(link.publish("test/spin2", b"state", qos=1))
            await asyncio.sleep(0)              # its first step: paho queues it, the watch is asked for
            await link.send_now("test/spin2", b"command")
            await ordinary                      # the broker's PUBACK: it has both
            heard = []
            async for received in listener.messages:
                heard.append(received.payload)
                if len(heard) == 2:
                    break
        await assert_not_watched_for_writing(link)
        assert sorted(heard) == [b"command", b"state"]
        runner.cancel()


async def test_a_qos0_publish_queued_before_a_command_is_still_acknowledged(mosquitto: Mosquitto) -> None:
    """`send_now` sets paho's written-callback aside for its own publish (nobody waits for it);
    an ordinary QoS 0 publish queued just before is written in the same call, and its caller,
    who waits for that callback, must still return."""
    settings = MqttSettings(url=mosquitto.url)
    link = MqttLink(settings, "qos0-before", "chatops/qos0-before/status")
    async with asyncio.TaskGroup() as tasks:
        runner = tasks.create_task(link.run(broker_address(settings, Path("."))))
        async with asyncio.timeout(10):
            await link.connected.wait()
            ordinary = tasks.create_task(link.publish("test/qos0", b"state", qos=0))
            await asyncio.sleep(0)              # its first step: paho queues it, the watch is asked for
            await link.send_now("test/qos0", b"command")
            await ordinary
        assert link.published == 2
        runner.cancel()
