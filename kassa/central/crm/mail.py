"""Sending the mail central decided to send (``mail_outbox``), over SMTP.

Mail is written in the transaction that decides it and sent by a scheduled job after, so a
mail server that is down delays notices and never loses one (each is retried, at least once
delivered; ``attempts`` and ``last_error`` say why one waits). A mail holding a secret (a
sign-in code) loses its subject and text once sent. Settings from the environment:
``KASSA_SMTP_HOST`` (none: mail waits in the outbox), ``KASSA_SMTP_PORT`` (25),
``KASSA_MAIL_FROM`` (``kassa@localhost``).
"""

from __future__ import annotations

import os
import smtplib
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.orm import Session

from kassa.central.models import MailMessage
from kassa.common.db import utcnow

MAX_ATTEMPTS = 20
BATCH = 50


def send_pending(session: Session) -> int:
    """Send what waits in the outbox; returns how many went out."""
    host = os.environ.get("KASSA_SMTP_HOST", "")
    if not host:
        return 0
    port = int(os.environ.get("KASSA_SMTP_PORT", "25"))
    sender = os.environ.get("KASSA_MAIL_FROM", "kassa@localhost")
    waiting = list(session.scalars(select(MailMessage).where(
        MailMessage.sent_at.is_(None), MailMessage.attempts < MAX_ATTEMPTS)
        .order_by(MailMessage.id).limit(BATCH).with_for_update(skip_locked=True)))
    if not waiting:
        return 0
    sent = 0
    try:
        with smtplib.SMTP(host, port, timeout=10) as smtp:
            for mail in waiting:
                mail.attempts += 1
                try:
                    message = EmailMessage()
                    message["From"], message["To"] = sender, mail.to_address
                    message["Subject"] = " ".join(mail.subject.split())  # no header breaks
                    message.set_content(mail.body)
                    smtp.send_message(message)
                except (smtplib.SMTPException, ValueError) as err:  # this mail, not the rest
                    mail.last_error = str(err)[:200]
                    continue
                mail.sent_at, mail.last_error = utcnow(), None
                if mail.erase_after_send:  # a sign-in code: not kept in clear once sent
                    mail.subject, mail.body = "", ""
                sent += 1
    except (OSError, smtplib.SMTPException) as err:  # the server is not there: next time
        for mail in waiting:
            if mail.sent_at is None:
                mail.attempts += 1
                mail.last_error = str(err)[:200]
    session.flush()
    return sent
