"""Board changes between replicas: PostgreSQL NOTIFY on `dispatch_board`, sent in the transaction
that made the change, and a LISTEN connection per process that hears them.

A payload is lines of "hub|date|route" (date empty: the route's group on every day's board). The
server delivers a NOTIFY only when its transaction commits, collapses identical payloads of one
transaction, and hands every listener every payload in commit order; ids never contain "|" or a
line break (mesh.kernel.ID_RULE). A payload is at most 8000 bytes, so a transaction that changes
many routes sends several.

A reader that must see every change committed before it asked (a snapshot, a listing from memory)
sends a mark, "mark <token>", on the same channel from a connection of the pool and waits until the
listener hears it: notifications come in commit order, so every change committed before the mark
was heard (and applied) first.
"""

from __future__ import annotations

import logging
import select
import threading
import time
from collections.abc import Iterable
from datetime import date
from typing import cast

import psycopg2.extensions
import sqlalchemy as sa
from psycopg2 import sql as pgsql
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dispatch_svc.adapters.orm import SCHEMA
from dispatch_svc.domain.board import BoardChange, Heard
from mesh.kernel import is_id

log = logging.getLogger(__name__)

CHANNEL = f"{SCHEMA}_board"
MAX_PAYLOAD_BYTES = 7900  # under PostgreSQL's 8000
_STOP_CHECK_SECONDS = 0.2
_MARK = "mark "


def encode(changes: Iterable[BoardChange]) -> list[str]:
    """The payloads announcing `changes`, each at most MAX_PAYLOAD_BYTES."""
    payloads: list[str] = []
    lines: list[str] = []
    size = 0
    for change in sorted(set(changes), key=lambda c: (c.hub_id, c.pickup_date or date.min, c.route_id)):
        day = change.pickup_date.isoformat() if change.pickup_date else ""
        line = f"{change.hub_id}|{day}|{change.route_id}"
        if lines and size + 1 + len(line) > MAX_PAYLOAD_BYTES:
            payloads.append("\n".join(lines))
            lines, size = [], 0
        size += len(line) + (1 if lines else 0)
        lines.append(line)
    if lines:
        payloads.append("\n".join(lines))
    return payloads


def decode(payload: str) -> list[BoardChange]:
    """The changes a payload announces; a line that is not one (someone else's NOTIFY) is skipped."""
    return hear([payload]).changes


def hear(payloads: Iterable[str]) -> Heard:
    """The changes and marks of some payloads, in order; a line that is neither is skipped."""
    changes, marks = [], []
    for line in (line for payload in payloads for line in payload.splitlines()):
        if line.startswith(_MARK):
            marks.append(line[len(_MARK) :])
            continue
        change = _change(line)
        if change is None:
            log.warning("skipping a board notification line that is not a board change", extra={"line": line[:200]})
        else:
            changes.append(change)
    return Heard(changes, marks)


def _change(line: str) -> BoardChange | None:
    parts = line.split("|")
    if len(parts) != 3 or not (is_id(parts[0]) and is_id(parts[2])):
        return None
    hub_id, day, route_id = parts
    try:
        return BoardChange(hub_id, route_id, date.fromisoformat(day) if day else None)
    except ValueError:
        return None


def notify(session: Session, changes: Iterable[BoardChange]) -> None:
    """Announce `changes` when (and if) the session's transaction commits."""
    for payload in encode(changes):
        session.execute(sa.select(sa.func.pg_notify(CHANNEL, payload)))


class BoardListener:
    """A dedicated connection (outside the pool) LISTENing on the channel; closing it ends the
    LISTEN. What was committed while no listener was connected is not heard: a new listener's
    owner must treat its watchers' boards as unknown (they re-read a snapshot)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._proxy = engine.raw_connection()
        self._conn = cast(psycopg2.extensions.connection, self._proxy.driver_connection)
        self._proxy.detach()  # ours for good: never returned to the pool with a LISTEN on it
        self._conn.autocommit = True
        with self._conn.cursor() as cur:
            cur.execute(pgsql.SQL("LISTEN {}").format(pgsql.Identifier(CHANNEL)))

    def wait(self, timeout: float, stop: threading.Event) -> Heard:
        """What was heard, as soon as there is something, or nothing after `timeout` or once `stop`
        is set. On timeout the connection is pinged, so a dead one raises here rather than
        listening to nothing."""
        deadline = time.monotonic() + timeout
        while not stop.is_set():
            if self._conn.notifies:
                heard = hear(note.payload for note in self._conn.notifies)
                self._conn.notifies.clear()
                return heard
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                with self._conn.cursor() as cur:
                    cur.execute("SELECT 1")
                return Heard([], [])
            # Short slices so `stop` is noticed promptly; a NOTIFY ends the select at once.
            readable, _, _ = select.select([self._conn], [], [], min(remaining, _STOP_CHECK_SECONDS))
            if readable:
                self._conn.poll()  # raises OperationalError if the server closed the connection
        return Heard([], [])

    def mark(self, token: str) -> None:
        """Send a mark that this listener (and every other) hears after every change committed
        before it; from a pooled connection, committed at once."""
        with self._engine.connect() as conn:
            conn.execute(sa.select(sa.func.pg_notify(CHANNEL, _MARK + token)))
            conn.commit()

    def close(self) -> None:
        try:
            self._proxy.close()
        except Exception:  # already broken: nothing left to release
            log.debug("closing the board listener connection failed", exc_info=True)
