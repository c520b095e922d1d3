"""What mail was sent, so a job delivered twice sends it once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .common import utcnow


class SentMail(db.Model):
    """One email of one ``kind`` about one thing (``about``: an order, a product's fall below its
    low-stock mark, a vendor's day): claimed by the job sending it, then marked sent."""

    __tablename__ = "sent_mail"
    __table_args__ = (UniqueConstraint("kind", "about"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    # What the mail is about, unique with its kind: "order:12", "product:5:<when it fell>", "vendor:7:2026-11-30".
    about: Mapped[str] = mapped_column(String(80))
    # The order a mail is about, if any: its mails' records go with it.
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    recipient: Mapped[str] = mapped_column(String(254))
    # A claim older than MAIL_CLAIM_SECONDS with no sent_at is a sender that died.
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
