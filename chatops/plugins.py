"""What a command plugin gets from the hub besides its commands: its own config section and its
own small key-value storage.

A command module may declare `CONFIG = ("NAME", Schema)`, a config section (subclass
`chatops.config.Section`): its settings are then the `[plugins.NAME]` table of config.toml,
checked at start and by `chatops check` with the same error format as the rest. Handlers reach
them as `ctx.plugin.settings`, and a storage of their own as `ctx.plugin.storage`.
"""

from __future__ import annotations

import difflib

import json
import logging
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .schema import Model, ValidationError

from .config_errors import format_errors

if TYPE_CHECKING:
    from .store import Store

log = logging.getLogger(__name__)

def declared_config(module: ModuleType) -> tuple[str, type[Model]] | None:
    config = getattr(module, "CONFIG", None)
    if isinstance(config, tuple) and len(config) == 2 and isinstance(config[0], str):
        return config[0], config[1]
    return None


def validate_sections(modules: list[ModuleType], raw: dict[str, Any],
                      broken: dict[str, str] | None = None) -> tuple[dict[str, Model], list[str]]:
    """Each plugin's `[plugins.NAME]` table validated by its own schema; problems in the usual form.
    The table of a plugin that failed to load (`broken`: its name -> why) is left alone: the hub
    starts without the plugin, as promised, and `status` says why it is not there."""
    broken = broken or {}
    sections: dict[str, Model] = {}
    problems: list[str] = []
    declared: dict[str, type[Model]] = {}
    owners: dict[str, str] = {}
    for module in modules:
        config = declared_config(module)
        if config is None:
            declared_wrong = getattr(module, "CONFIG", None)
            if declared_wrong is not None:       # `CONFIG = ["clash", Settings]`: ignored, its table unread
                problems.append(f"CONFIG of {module.__name__} must be a tuple (\"NAME\", Settings), a Section "
                                f"subclass as Settings; it is {type(declared_wrong).__name__} {declared_wrong!r:.60}")
            continue
        if config[0] in owners:
            # One table and one storage for two plugins: each would read the other's settings
            # and overwrite the other's data. Refused, as two commands claiming one word are.
            problems.append(f"plugins.{config[0]}: both {owners[config[0]]} and {module.__name__} declare this "
                            "table (CONFIG); rename one of them, each plugin needs its own")
            continue
        owners[config[0]] = module.__name__
        declared[config[0]] = config[1]
    for name, schema in declared.items():
        try:
            sections[name] = schema.model_validate(raw.get(name, {}))
        except ValidationError as exc:
            problems += format_errors(exc, schema, f"plugins.{name}.")
        except Exception as exc:                 # a validator of the plugin's own that crashed
            problems.append(f"plugins.{name}: the plugin's own check of this table failed "
                            f"({type(exc).__name__}: {exc}); fix the table, or report it to the plugin's author")
    for name in raw:
        if name in declared or name in broken:
            continue
        close = difflib.get_close_matches(name, list(declared), n=1)
        meant = f"did you mean [plugins.{close[0]}]? " if close else ""
        unread = (f"plugins.{name}: no loaded plugin reads this table; {meant}tables the loaded plugins read: "
                  f"{', '.join(sorted(declared)) or 'none (no plugin declares a CONFIG table)'}")
        if broken:
            # A plugin that failed to load may declare its table under another name than its
            # entry point's: the table cannot be told apart from a typo, and the hub starts
            # without the plugin, as promised, saying both.
            failed = ", ".join(f"{n} ({why})" for n, why in sorted(broken.items()))
            log.warning("%s; failed to load: %s", unread, failed)
        else:
            problems.append(unread)
    return sections, problems


class Storage:
    """A plugin's own key-value store in the hub's database: JSON values under string keys."""

    def __init__(self, store: Store, plugin: str) -> None:
        self._store = store
        self._plugin = plugin

    async def get(self, key: str, default: Any = None) -> Any:
        text = await self._store.plugin_value(self._plugin, key)
        return default if text is None else json.loads(text)

    async def set(self, key: str, value: Any) -> None:
        await self._store.set_plugin_value(self._plugin, key, json.dumps(value))

    async def delete(self, key: str) -> None:
        await self._store.set_plugin_value(self._plugin, key, None)


@dataclass(frozen=True)
class Plugin:
    """A command plugin's share of the hub: its settings (None without a schema) and storage."""

    name: str
    settings: Any
    storage: Storage
