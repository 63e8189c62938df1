"""The close lock: every write of an amount into a period holds it shared, a close exclusively.

PostgreSQL: a transaction-scoped advisory lock (released at commit or rollback), in the
two-integer key space, apart from the single-key locks of migrations and the scheduler leader.
SQLite: nothing to take — every write transaction is ``BEGIN IMMEDIATE``, one at a time, so a
close and a write never overlap.

Lock order, everywhere: pool rows (by id), then the close lock. Writers lock one pool then take
the lock shared; a close locks every pool in id order then takes it exclusively; usage storage
takes it shared and no pool lock. No cycle, so no deadlock.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

#: ``pg_advisory_xact_lock(CLASS, OBJECT)``: "gpuh" in ASCII, and 1 for "the period close".
CLOSE_LOCK_CLASS, CLOSE_LOCK_OBJECT = 0x67707568, 1


def hold_close_lock(conn: Connection, *, exclusive: bool = False) -> None:
    """Take the close lock on ``conn``'s transaction, until it ends."""
    if conn.dialect.name != "postgresql":
        return
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    conn.execute(
        text(f"SELECT {function}(:c, :o)"), {"c": CLOSE_LOCK_CLASS, "o": CLOSE_LOCK_OBJECT}
    )
