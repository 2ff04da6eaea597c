"""Discovery: how fast the hub takes in a house's retained announcements, by its size.

Each announcement is a device the registry adopts (`Home.adopt`: is it one already known, by
its reading or its command; a name of its own; its topics followed). A hub slow to take them in
reads its socket late, and a stock mosquitto drops what its queue for the hub cannot hold.
Floor: the same devices put in a dict by name, in the same run. In-process, no broker:
`python -m bench.discovery [--quick]`.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

from bench.common import arguments, machine, table
from chatops.config import DeviceSettings
from chatops.home import Device, Home
from chatops.mqtt import MqttLink
from chatops.testing import settings_for


def devices(count: int) -> list[Device]:
    return [Device(f"dev{i}", DeviceSettings(type="switch", state_topic=f"plug/{i}", command_topic=f"plug/{i}/set"),
                   source="discovery") for i in range(count)]


def adopted_per_second(count: int) -> tuple[float, float]:
    """(announcements adopted a second, the floor's dict inserts a second) for a house of `count`."""
    settings = settings_for(Path(tempfile.mkdtemp()))
    home = Home({}, MqttLink(settings.mqtt, "bench", "chatops/bench/status"))
    fleet = devices(count)
    started = time.perf_counter()
    for device in fleet:
        home.adopt(device)
    adopt = count / (time.perf_counter() - started)
    floor: dict[str, Device] = {}
    fleet = devices(count)
    started = time.perf_counter()
    for device in fleet:
        floor.setdefault(device.name, device)
    return adopt, count / (time.perf_counter() - started)


def main() -> None:
    options = arguments((__doc__ or "").splitlines()[0])
    logging.disable(logging.INFO)           # one "discovered ..." line per device otherwise
    rows = []
    for count in ((100,) if options.quick else (100, 1000, 4000)):
        adopt, floor = adopted_per_second(count)
        rows.append([count, adopt, floor, f"x{adopt / floor:.3f}"])
    print(f"Discovery: retained announcements adopted, in-process ({machine()})\n\n"
          + table(["announcements", "adopted/s", "floor: dict inserts/s", "ratio"], rows))


if __name__ == "__main__":
    main()
