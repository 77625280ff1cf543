"""`gedge receiver`: the reference platform server (platform-api v1) for development, tests
and small deployments. The server lives in `edge.platform`; these are its names as the
agent's tests, the demo and the benchmarks know them.

    store = ReceiverStore("receiver.sqlite")           # or open_store("postgresql://…")
    server = ReceiverServer("127.0.0.1", 0, store, tokens=TokenBook("tokens"))
    server.start_background(); …; server.shutdown(); server.server_close(); store.close()
"""
from __future__ import annotations

from .platform.limits import FaultPlan, Limits
from .platform.server import ReceiverServer
from .platform.storage import PostgresStore, SQLiteStore, Store, open_store
from .platform.tokens import TokenBook

ReceiverStore = SQLiteStore
DEFAULT_PORT = 8730
DEFAULT_DB = "receiver.sqlite"

__all__ = ["FaultPlan", "Limits", "ReceiverServer", "ReceiverStore", "SQLiteStore", "PostgresStore", "Store",
           "TokenBook", "open_store", "DEFAULT_PORT", "DEFAULT_DB"]
