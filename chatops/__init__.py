"""chatops: a chat-ops hub for the home."""

__version__ = "0.1.0"
