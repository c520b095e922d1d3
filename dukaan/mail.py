"""Mail: plain-text messages over SMTP (the ``MAIL_*`` settings), and a record so each is sent once
(``sent_mail``, one row per kind of mail and what it is about).

With no ``MAIL_SERVER`` a message is written to the log instead (a laptop).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from datetime import timedelta
from email.message import EmailMessage

from flask import current_app
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from .extensions import db
from .models import SentMail, aware, utcnow

log = logging.getLogger(__name__)


class MailError(RuntimeError):
    """The mail server could not be reached or did not take the message."""


class ClaimedElsewhere(RuntimeError):
    """Another sender is sending this mail right now; ``after``: seconds until its claim lapses."""

    def __init__(self, after: float):
        super().__init__(f"being sent elsewhere; its claim lapses in {after:.0f} s")
        self.after = after


def send(to: str, subject: str, body: str) -> None:
    """Send a plain-text message to ``to`` from ``MAIL_DEFAULT_SENDER``.

    Raises ``MailError`` when the server cannot be reached, refuses the login
    or the message, or does not answer within ``MAIL_TIMEOUT``.
    """
    config = current_app.config
    message = EmailMessage()
    message["From"] = config["MAIL_DEFAULT_SENDER"]
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    if not config["MAIL_SERVER"]:
        log.info("mail (MAIL_SERVER is not set, so not sent) to %s: %s\n%s", to, subject, body)
        return
    try:
        with smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=config["MAIL_TIMEOUT"]) as smtp:
            if config["MAIL_USE_TLS"]:
                smtp.starttls(context=ssl.create_default_context())
            if config["MAIL_USERNAME"]:
                smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
            smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as error:
        raise MailError(f"{config['MAIL_SERVER']}:{config['MAIL_PORT']}: {error}") from error


def send_once(kind: str, about: str, to: str, subject: str, body: str, order_id: int | None = None) -> bool:
    """Send the mail of ``kind`` about ``about`` (``order_key(id)`` for an order, which then
    gives ``order_id`` too) unless it has been sent; True if sent now.

    The mail is claimed in its own committed transaction before it is sent
    (no transaction stays open across the SMTP call) and marked sent after.
    A claim whose sender died is taken over after ``MAIL_CLAIM_SECONDS``.
    Raises ``ClaimedElsewhere`` while another sender holds the claim, and
    ``MailError`` (the claim released, so a retry sends) when sending fails.
    """
    if not _claim(kind, about, to, order_id):
        row = db.session.scalar(select(SentMail).where(SentMail.kind == kind, SentMail.about == about))
        db.session.rollback()
        if row is None or row.sent_at is not None:
            return False
        lapse = current_app.config["MAIL_CLAIM_SECONDS"] - (utcnow() - aware(row.claimed_at)).total_seconds()
        raise ClaimedElsewhere(max(lapse, 1.0))
    try:
        send(to, subject, body)
    except MailError:
        _settle(kind, about, sent=False)
        raise
    _settle(kind, about, sent=True)
    log.info("mail %s about %s sent to %s", kind, about, to)
    return True


def order_key(order_id: int) -> str:
    """What a mail about order ``order_id`` is about (``SentMail.about``)."""
    return f"order:{order_id}"


def _claim(kind: str, about: str, to: str, order_id: int | None) -> bool:
    now = utcnow()
    table = SentMail.__table__
    insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(table)
        .values(kind=kind, about=about, order_id=order_id, recipient=to, claimed_at=now)
        .on_conflict_do_update(
            index_elements=[table.c.kind, table.c.about],
            set_={"claimed_at": now, "recipient": to},
            where=table.c.sent_at.is_(None)
            & (table.c.claimed_at < now - timedelta(seconds=current_app.config["MAIL_CLAIM_SECONDS"])),
        )
        .returning(table.c.id)
    )
    claimed = db.session.execute(statement).first() is not None
    db.session.commit()
    return claimed


def _settle(kind: str, about: str, sent: bool) -> None:
    table = SentMail.__table__
    mine = (table.c.kind == kind) & (table.c.about == about)
    if sent:
        db.session.execute(table.update().where(mine).values(sent_at=utcnow()))
    else:
        db.session.execute(table.delete().where(mine & table.c.sent_at.is_(None)))
    db.session.commit()
