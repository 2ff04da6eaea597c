"""How to install an optional part (an extra: irc, xmpp, embedded...) into the running hub.

The hub is installed from its source folder: the package named "chatops" on PyPI is another
project, so `pip install 'chatops[irc]'` would replace the hub with it. Every "install this"
hint names the source folder and the Python that runs the hub, so it can be pasted as is.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent


def install_hint(extra: str) -> str:
    """The command that adds `extra` to this installation."""
    if (SOURCE / "pyproject.toml").is_file():
        return f"{sys.executable} -m pip install -e '{SOURCE}[{extra}]'"
    return (f"{sys.executable} -m pip install '/path/to/chatops-source[{extra}]' (from the folder the hub was "
            f"installed from: the PyPI package named chatops is another project)")


def first_missing(modules: Iterable[str]) -> str | None:
    """The first of `modules` that cannot be imported here, or None. Nothing is imported: a
    check stays quick, and a library imported late (an adapter's) is covered too."""
    for module in modules:
        try:
            if importlib.util.find_spec(module) is None:
                return module
        except (ImportError, ValueError):           # a parent package missing; a module set to None
            return module
    return None


def library_problem(kind: str) -> str | None:
    """Why an enabled adapter of `kind` could not run (its pip extra is missing), or None.
    Its settings may not need the library, but running it does: say so now, not in a traceback."""
    from .networks import networks

    network = networks().get(kind)
    missing = network.missing_module() if network is not None else None
    if missing is None:
        return None
    return needs_module(kind, missing)


def needs_module(kind: str, missing: str) -> str:
    """What to install for an adapter whose module `missing` is not there: the hub's own extra
    for a built-in network, the plugin's package's dependencies for a plugin's."""
    from .networks import networks

    network = networks().get(kind)
    if network is not None and not network.adapter.startswith("adapters."):
        return (f"adapters.{kind}: its plugin needs the module {missing}, which is not installed: install it "
                f"(pip install the package that provides it), or reinstall the plugin's package")
    extra = network.extra or kind if network is not None else kind
    return f"adapters.{kind}: needs the {extra} extra (module {missing} is missing): {install_hint(extra)}"
