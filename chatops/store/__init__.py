"""The store: the hub's one SQLite file, and every SQL statement the hub runs on it.

`database.Store` owns the connection, its thread and the transactions; each other module here
owns one table (or a few that belong together) and is the only code that writes its statements:
the rest of the hub calls these functions on the store's thread, through `Store.call`.
"""

from .database import Store

__all__ = ["Store"]
