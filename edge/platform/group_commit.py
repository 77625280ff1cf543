"""Group commit for incident posts: those that arrive while the writers are busy wait and go
together in the next transaction, so one commit serves all of them.

    commits = GroupCommit(lambda: server.store)
    stored, held = await commits.put_incident(doc)     # ForeignIncident as store.put_incident

Nothing waits on purpose: a post that finds a writer free is written in the next turn of the
event loop (with the other posts read in the same turn). SQLite has one writer, on the loop (a
fraction of a millisecond: a thread hop costs more). PostgreSQL has up to `PG_WRITERS`, each on
an async connection of the loop's own: no thread hop, the loop goes on reading posts while a
commit is flushed, and PostgreSQL flushes the commits of several connections together. Every
post is answered after its commit.
"""
from __future__ import annotations

import asyncio
from typing import Any, Callable

from starlette.concurrency import run_in_threadpool

PG_WRITERS = 2  # connections writing at once (PostgreSQL waits for its WAL flush per commit); 2 beat 1 and 4 here


async def call_store(store, fn, *args):
    """SQLite answers in well under a millisecond: call it on the loop (a thread hop costs more).
    A database across a network (PostgreSQL) is called from the thread pool, not to stall the loop."""
    if getattr(store, "inline", False):
        return fn(*args)
    return await run_in_threadpool(fn, *args)


class GroupCommit:
    def __init__(self, store: Callable[[], Any]):
        self._store = store  # read per batch (tests swap stores)
        self._pending: list[tuple[dict[str, Any], asyncio.Future]] = []
        self._writers = 0  # running
        self._starting = 0  # started, not yet holding a batch: the next posts will be theirs
        self._conns: list[Any] = []  # PostgreSQL: idle async connections (closed when collected)
        self._conns_of = None  # the store they connect to

    async def put_incident(self, doc: dict[str, Any]) -> tuple[bool, int]:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._pending.append((doc, fut))
        store = self._store()
        if not self._starting and self._writers < (1 if getattr(store, "inline", False) else PG_WRITERS):
            self._writers += 1
            self._starting += 1
            loop.create_task(self._writer(store))
        result = await fut
        if isinstance(result, BaseException):
            raise result
        return result

    async def _writer(self, store) -> None:
        waiting = True
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                if waiting:
                    waiting = False
                    self._starting -= 1
                docs = [doc for doc, _ in batch]
                try:
                    if getattr(store, "inline", False):
                        results = _write(store, docs)
                    elif hasattr(store, "put_incidents_async"):
                        results = await self._write_async(store, docs)
                    else:
                        results = await run_in_threadpool(_write, store, docs)
                except BaseException:
                    self._pending = batch + self._pending
                    raise
                for (_, fut), result in zip(batch, results):
                    if not fut.done():
                        fut.set_result(result)
        finally:
            if waiting:
                self._starting -= 1
            self._writers -= 1
            if not self._writers:
                left, self._pending = self._pending, []
                for _, fut in left:  # only left after a cancellation (the server stopping)
                    if not fut.done():
                        fut.set_exception(RuntimeError("the server stopped before the commit"))

    async def _write_async(self, store, docs: list[dict[str, Any]]) -> list[Any]:
        if self._conns_of is not store:
            self._conns, self._conns_of = [], store
        conn = None
        try:
            conn = self._conns.pop() if self._conns else None
            if conn is None or conn.closed:
                import psycopg

                conn = await psycopg.AsyncConnection.connect(store.url, autocommit=True)
            results = await _write_async(store, conn, docs)
        except Exception as e:  # no connection: a 5xx, the boxes retry
            results = [e] * len(docs)
        if conn is not None and not conn.closed and self._conns_of is store:
            self._conns.append(conn)
        return results


def _write(store, docs: list[dict[str, Any]]) -> list[Any]:
    """Per document the result or the exception; one document the database refuses must not fail
    the others of its batch (the transaction rolled back: each is written again on its own)."""
    try:
        return store.put_incidents(docs)
    except Exception as e:
        if len(docs) == 1:
            return [e]
    out: list[Any] = []
    for doc in docs:
        try:
            out.extend(store.put_incidents([doc]))
        except Exception as e:
            out.append(e)
    return out


async def _write_async(store, conn, docs: list[dict[str, Any]]) -> list[Any]:
    """_write on an async connection."""
    try:
        return await store.put_incidents_async(conn, docs)
    except Exception as e:
        if len(docs) == 1 or conn.closed:
            return [e] * len(docs)
    out: list[Any] = []
    for doc in docs:
        try:
            out.extend(await store.put_incidents_async(conn, [doc]))
        except Exception as e:
            out.append(e)
    return out
