"""An example third-party plugin for chatops (tests and docs/plugins.md): a network and a command."""
