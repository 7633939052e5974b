"""The publish ledger: one row per (partition, platform) so a retry never posts twice.

It also keeps each upload's resume state (a YouTube session URI, a TikTok publish id, an X media id), so an
interrupted upload continues instead of starting a second post. SQLite file by default; PostgreSQL in
production (any SQLAlchemy URL: `postgresql+psycopg2://user@host/db`).

A publish first *reserves* (partition, platform): a row in `shorts_post_reservations` under its primary key, so
a second publish running at the same time finds it and stops (`PublishInProgress`) instead of posting again.
The reservation also holds the create call in flight (`Reservation.begin_create`): when its answer is lost and
the platform cannot tell whether it posted, the row turns `unconfirmed` and every later publish stops
(`UnconfirmedPost`) until an operator runs `shorts posts resolve`. A holder that died leaves a reservation whose
lease (renewed by a heartbeat) runs out; the next publish takes it over together with the create call it may
have sent, which it looks up rather than sends again.

The tables live in `resources.database.tables`; `resources.database.engine` opens the database and brings its
schema up to date.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from resources.database.engine import open_database
from resources.database.tables import posts, reservations, upload_state
from resources.errors import ProviderError, RetryableError
from resources.records import Post

LEASE_S = 300.0  # a reservation not renewed for this long belongs to a publish that died
HEARTBEAT_S = 30.0
PUBLISHING, UNCONFIRMED = "publishing", "unconfirmed"


def resolve_command(partition_key: str, platform: str) -> str:
    return f"shorts posts resolve {partition_key} {platform} --posted <post-id> | --not-posted"


class PublishInProgress(RetryableError):
    """Another publish holds the reservation of this (partition, platform): this one stops, nothing is posted."""


class UnconfirmedPost(ProviderError):
    """A create call may have posted and the platform could not tell: nothing posts until an operator resolves it.

    `check` says where to look (the account, the marker); the message ends with the resolve command.
    """

    def __init__(self, where: str, partition_key: str, platform: str, check: str) -> None:
        self.check = check
        super().__init__(
            f"{where}: {check}. Nothing is posted to {platform} for this partition until an operator resolves it: "
            f"{resolve_command(partition_key, platform)}"
        )


class PublishLedger:
    """Records each post as soon as the platform (or the outbox) returns its id."""

    def __init__(self, location: str | Path) -> None:
        self.engine = open_database(str(location))

    def get(self, partition_key: str, platform: str) -> Post | None:
        query = sa.select(posts.c.record_json).where(
            posts.c.partition_key == partition_key, posts.c.platform == platform
        )
        with self.engine.connect() as db:
            row = db.execute(query).first()
        return Post.model_validate_json(row[0]) if row else None

    def record(self, post: Post) -> Post:
        """Store `post`; if another writer got there first, keep and return theirs.

        Clears the resume state and the reservation in the same transaction.
        """
        try:
            with self.engine.begin() as db:
                db.execute(
                    posts.insert().values(
                        partition_key=post.partition_key,
                        platform=post.platform,
                        remote_id=post.remote_id,
                        record_json=post.model_dump_json(),
                    )
                )
                for table in (upload_state, reservations):
                    db.execute(table.delete().where(_key(table, post.partition_key, post.platform)))
        except IntegrityError:
            pass
        return self.get(post.partition_key, post.platform) or post

    # -- reservations ---------------------------------------------------------------------------------------

    def reserve(self, partition_key: str, platform: str, *, where: str, lease_s: float = LEASE_S) -> Reservation:
        """Take (partition, platform) for one publish, or raise.

        PublishInProgress while another live publish holds it; UnconfirmedPost while an unknown outcome waits
        for `shorts posts resolve`. A reservation whose lease ran out is taken over with its create call.
        """
        owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        while True:
            now = time.time()
            try:
                with self.engine.begin() as db:
                    db.execute(
                        reservations.insert().values(
                            partition_key=partition_key,
                            platform=platform,
                            state=PUBLISHING,
                            owner=owner,
                            renewed_at=now,
                            create_json="",
                            record_json="",
                            check_text="",
                        )
                    )
                return Reservation(self, partition_key, platform, owner, lease_s=lease_s)
            except IntegrityError:
                pass
            row = self._reservation(partition_key, platform)
            if row is None:
                continue  # released meanwhile: try again
            if row.state == UNCONFIRMED:
                raise UnconfirmedPost(where, partition_key, platform, row.check_text or "the outcome is unknown")
            age = now - float(row.renewed_at)
            if age < lease_s:
                raise PublishInProgress(
                    f"{where}: another run is publishing this partition to {platform} right now (reserved by "
                    f"{row.owner} {age:.0f} s ago), so this one stops and the short is posted once; re-execute "
                    "after it has finished and this asset reports its post"
                )
            # The holder died: take over its reservation (compare-and-set, so only one taker wins).
            taken = self._update(
                partition_key,
                platform,
                (reservations.c.owner == row.owner) & (reservations.c.renewed_at == row.renewed_at),
                owner=owner,
                renewed_at=now,
            )
            if taken:
                pending = json.loads(row.create_json) if row.create_json else None
                return Reservation(self, partition_key, platform, owner, lease_s=lease_s, pending=pending)

    def unconfirmed(self, partition_key: str, platform: str) -> tuple[Post | None, str] | None:
        """(the Post as far as it is known, what to check) of an unconfirmed publish; None when there is none."""
        row = self._reservation(partition_key, platform)
        if row is None or row.state != UNCONFIRMED:
            return None
        return (Post.model_validate_json(row.record_json) if row.record_json else None), row.check_text

    def resolve(self, partition_key: str, platform: str, *, posted: str | None, url: str = "") -> Post | None:
        """Settle an unconfirmed publish: `posted` is the post id the operator found (recorded as published), or
        None when it is not there (the reservation and the resume state go, so the next publish posts afresh)."""
        found = self.unconfirmed(partition_key, platform)
        if found is None:
            raise ValueError(f"{platform}[{partition_key}]: no unconfirmed post to resolve")
        draft, _ = found
        if posted is None:
            with self.engine.begin() as db:
                for table in (upload_state, reservations):
                    db.execute(table.delete().where(_key(table, partition_key, platform)))
            return None
        if draft is None:
            raise ValueError(f"{platform}[{partition_key}]: the unconfirmed publish has no record to complete")
        post = draft.model_copy(update={"status": "published", "remote_id": posted, "url": url or draft.url})
        return self.record(post)

    def _reservation(self, partition_key: str, platform: str) -> Any:
        with self.engine.connect() as db:
            return db.execute(sa.select(reservations).where(_key(reservations, partition_key, platform))).first()

    def _update(self, partition_key: str, platform: str, condition: Any, **values: Any) -> bool:
        with self.engine.begin() as db:
            result = db.execute(
                reservations.update().where(_key(reservations, partition_key, platform) & condition).values(**values)
            )
        return bool(result.rowcount)

    def checkpoint(self, partition_key: str, platform: str, reservation: Reservation | None = None) -> UploadCheckpoint:
        return UploadCheckpoint(self, partition_key, platform, reservation)

    def _load_state(self, partition_key: str, platform: str) -> dict[str, Any]:
        query = sa.select(upload_state.c.state_json).where(
            upload_state.c.partition_key == partition_key, upload_state.c.platform == platform
        )
        with self.engine.connect() as db:
            row = db.execute(query).first()
        return dict(json.loads(row[0])) if row else {}

    def _save_state(self, partition_key: str, platform: str, state: dict[str, Any]) -> None:
        where = (upload_state.c.partition_key == partition_key) & (upload_state.c.platform == platform)
        with self.engine.begin() as db:
            db.execute(upload_state.delete().where(where))
            if state:
                db.execute(
                    upload_state.insert().values(
                        partition_key=partition_key, platform=platform, state_json=json.dumps(state)
                    )
                )


def _key(table: sa.Table, partition_key: str, platform: str) -> Any:
    return (table.c.partition_key == partition_key) & (table.c.platform == platform)


class Reservation:
    """One publish's hold on (partition, platform): renewed by a heartbeat thread while `with` it is open."""

    def __init__(
        self,
        ledger: PublishLedger,
        partition_key: str,
        platform: str,
        owner: str,
        *,
        lease_s: float = LEASE_S,
        pending: dict[str, Any] | None = None,
    ) -> None:
        self._ledger, self.partition_key, self.platform, self.owner = ledger, partition_key, platform, owner
        self.lease_s = lease_s
        self.pending: dict[str, Any] | None = pending  # a create call sent and never answered
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def __enter__(self) -> Reservation:
        interval = min(HEARTBEAT_S, self.lease_s / 4)
        self._heartbeat = threading.Thread(target=self._beat, args=(interval,), daemon=True, name="ledger-lease")
        self._heartbeat.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=5)
        self.release()

    def _beat(self, interval: float) -> None:
        while not self._stop.wait(interval):
            # A missed beat only shortens the lease; begin_create checks ownership again before the create call.
            with contextlib.suppress(Exception):
                self._mine(renewed_at=time.time())

    def _mine(self, **values: Any) -> bool:
        """Update this reservation's row if it is still ours and publishing."""
        mine = (reservations.c.owner == self.owner) & (reservations.c.state == PUBLISHING)
        return self._ledger._update(self.partition_key, self.platform, mine, **values)

    def begin_create(self, call: dict[str, Any]) -> None:
        """Note the create call about to be sent; raises PublishInProgress when the reservation was lost."""
        call = {**call, "sent_at": datetime.now(UTC).isoformat()}
        if not self._mine(create_json=json.dumps(call), renewed_at=time.time()):
            raise PublishInProgress(
                f"{self.platform}[{self.partition_key}]: this publish lost its reservation (its lease ran out and "
                "another run took it over); it stops before the create call"
            )
        self.pending = call

    def end_create(self) -> None:
        """The create call was answered (or refused for sure): no call is in flight any more."""
        self._mine(create_json="")
        self.pending = None

    def mark_unconfirmed(self, draft: Post, check: str) -> None:
        """Whether the create call posted is unknown: hold the partition until `shorts posts resolve`."""
        self._mine(state=UNCONFIRMED, record_json=draft.model_dump_json(), check_text=check)

    def release(self) -> None:
        """Give the reservation up (a finished or failed publish; an unconfirmed one stays).

        With a create call still in flight the row stays, its lease expired at once: the next publish takes it
        over and looks that call up instead of sending it again.
        """
        if self.pending is not None:
            self._mine(renewed_at=0.0)
            return
        mine = (reservations.c.owner == self.owner) & (reservations.c.state == PUBLISHING)
        with self._ledger.engine.begin() as db:
            db.execute(reservations.delete().where(_key(reservations, self.partition_key, self.platform) & mine))


class UploadCheckpoint:
    """Resume state of one (partition, platform) upload, saved at once so a crash loses nothing.

    With a reservation it also carries the create call in flight (`pending_create`), which `clear` leaves alone.
    """

    def __init__(
        self, ledger: PublishLedger, partition_key: str, platform: str, reservation: Reservation | None = None
    ) -> None:
        self._ledger, self._key, self._platform = ledger, partition_key, platform
        self.partition_key = partition_key
        self._state = ledger._load_state(partition_key, platform)
        self.reservation = reservation
        self._pending: dict[str, Any] | None = None  # without a reservation (an engine used on its own)

    def pending_create(self) -> dict[str, Any] | None:
        """The create call an earlier attempt sent without learning its outcome; None when there is none."""
        return self.reservation.pending if self.reservation is not None else self._pending

    def begin_create(self, call: dict[str, Any]) -> None:
        if self.reservation is not None:
            self.reservation.begin_create(call)
        else:
            self._pending = call

    def end_create(self) -> None:
        if self.reservation is not None:
            self.reservation.end_create()
        self._pending = None

    def get(self, name: str, default: Any = None) -> Any:
        return self._state.get(name, default)

    def set(self, name: str, value: Any) -> None:
        self._state[name] = value
        self._ledger._save_state(self._key, self._platform, self._state)

    def clear(self) -> None:
        self._state = {}
        self._ledger._save_state(self._key, self._platform, {})
