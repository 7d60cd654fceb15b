"""Phone numbers and e-mail addresses as people write them, made one form each so that a
call's caller id, a web form, an import and a till's entry find the same person; and the
channels a customer may agree to be contacted by."""

from __future__ import annotations

import re

from kassa.common.errors import Invalid

# "offers": personal offers at the till, made from the customer's purchases (profiling).
CONSENT_CHANNELS = ("sms", "email", "phone", "offers")
_DIGITS = re.compile(r"\D")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normal_phone(text: str | None) -> str | None:
    """``+7 (900) 000-00-01``, ``8 900 000 00 01`` and ``9000000001`` are all ``+79000000001``
    (Russian numbers; others keep their country code, digits only, after a ``+``)."""
    if not text or not text.strip():
        return None
    digits = _DIGITS.sub("", text)
    if len(digits) == 11 and digits[0] in "78":
        digits = "7" + digits[1:]
    elif len(digits) == 10 and digits[0] == "9":
        digits = "7" + digits
    if not 7 <= len(digits) <= 15:
        raise Invalid("%(text)s is not a phone number.", code="bad_phone", text=repr(text))
    return "+" + digits


def normal_email(text: str | None) -> str | None:
    if not text or not text.strip():
        return None
    email = text.strip().lower()
    if not _EMAIL.match(email) or len(email) > 200:
        raise Invalid("%(text)s is not an e-mail address.", code="bad_email", text=repr(text))
    return email
