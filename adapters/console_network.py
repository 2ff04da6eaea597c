"""The console as the core sees it: whoever runs the process; alerts go to the terminal."""

from __future__ import annotations

from chatops.networks import Network

NETWORK = Network(name="console", adapter="adapters.console:Adapter", settings="adapters.console:Settings",
                  example="console:*", targets=lambda _user, _patterns: ["*"],
                  identities="`[\"*\"]`: whoever runs the hub on its terminal",
                  about="The terminal the hub runs on.")
