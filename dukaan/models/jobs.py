"""The outbox: jobs a change asked for, written in the change's own transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .common import utcnow


class OutboxEntry(db.Model):
    """A job waiting to be handed to the workers (``dukaan.jobs.outbox``); deleted once handed over."""

    __tablename__ = "outbox"

    # BIGINT on PostgreSQL, INTEGER on SQLite (which only auto-increments that).
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    args: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The request that asked for it (X-Request-ID): the job logs under the same id.
    request_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
