import asyncio, json, logging
import pytest
from chatops.hub import Hub, running
from chatops.testing import wait_for
from .test_sms import hub_settings, smsd_backend, heater_commands, sms_up, ALICE
from .conftest import GammuSmsd

@pytest.mark.parametrize("i", range(5))
async def test_x(tmp_path, mosquitto, i, caplog):
    pass
    smsd = GammuSmsd(tmp_path / "smsd"); smsd.start()
    try:
        async with heater_commands(mosquitto) as commands, \
                running(Hub(hub_settings(tmp_path, mosquitto, smsd_backend(smsd)))) as hub:
            await sms_up(hub)
            smsd.phone.deliver(ALICE, "chauffage on")
            payload = await asyncio.wait_for(commands.get(), 10)
            await wait_for(lambda: smsd.sent(), timeout=15)
            text = smsd.sent()[0][0]["Text"]
            if text != "heater is ON":
                heater = hub.home.devices["heater"]
                print("READING", heater.reading, [t.get_name() for t in hub.tasks])
                print("\n".join(r.getMessage() for r in caplog.records if "aiomqtt" not in r.name)[-5000:])
            assert text == "heater is ON"
    finally:
        smsd.stop()
