"""snap: a picture from a camera, delivered the way each network does it best."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chatops.cameras import SnapshotError
from chatops.command import CommandError, Context, command
from chatops.i18n import _
from chatops.durations import format_duration
from chatops.device_kinds import names_a_device
from chatops.message import Reply


def _not_a_camera(hub: Any, args: list[str]) -> str | None:
    """What `snap CAMERA` would answer about its name, taking no picture (a timer's check)."""
    problem = names_a_device(hub, args)
    if problem is not None or not args:
        return problem
    try:
        hub.cameras.camera(" ".join(args))
    except SnapshotError as exc:
        return str(exc)
    return None


@command("snap", aliases=["snapshot", "photo", "cam"], permission="snap", usage="snap [CAMERA]",
         precheck=_not_a_camera)
async def snap(ctx: Context, camera: str | None = None) -> Reply:
    """Take a picture with a camera (e.g. snap entree)."""
    cameras = ctx.hub.cameras
    if camera is None:
        names = sorted(d.name for d in cameras.cameras())
        if not names:
            raise CommandError(_("No camera is configured."))
        if len(names) > 1:
            raise CommandError(_('Which camera? Say snap {names}.').format(names=' or snap '.join(names)))
        camera = names[0]
    try:
        shot = await cameras.snapshot(camera)
    except SnapshotError as exc:
        raise CommandError(str(exc)) from None
    label = cameras.camera(shot.camera).label
    age = ctx.hub.clock.time() - shot.taken_at
    taken = datetime.fromtimestamp(shot.taken_at, ctx.hub.timers.tz)      # `[hub] timezone`, as timers
    text = _("{label} at {time}").format(label=label, time=taken.strftime("%H:%M:%S"))
    if age >= 60:
        text += " " + _("(the camera's last image, {age} old)").format(age=format_duration(age))
    return Reply(text, (shot.attachment,))
