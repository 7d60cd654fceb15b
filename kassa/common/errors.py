"""Refusals with a stable machine code and a human sentence; plain Python, no web import.

Domain and service code raise these; the web layer (``kassa.common.web``) turns them into
``{"error": code, "message": text}`` with the right HTTP status, the sentence in the
request's language. So the sentence is a fixed English text with ``%(name)s`` for its values,
given apart (``Conflict("Card %(number)s is blocked.", number=n)``), never an f-string: the
catalog holds the fixed text (``kassa.common.i18n_tools``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class KassaError(Exception):
    """A refusal the caller can act on. Subclasses or instances carry code and HTTP status."""

    status = 400
    code = "bad_request"
    headers: dict[str, str] | None = None  # extra response headers (a sign-in challenge)
    # True when what was written before the refusal is bookkeeping of the refusal itself (a
    # failed PIN counted): Database.transaction commits it instead of rolling back.
    commit_anyway = False

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 details: dict[str, Any] | None = None, **values: Any):
        self.template, self.values = message, values
        self.message = message % values if values else message
        super().__init__(self.message)
        if code:
            self.code = code
        if status:
            self.status = status
        self.details = details

    def to_dict(self, translate: Callable[[str], str] | None = None) -> dict[str, Any]:
        """The refusal as the API answers it; ``translate`` gives the sentence's text in the
        reader's language."""
        message = self.message
        if translate is not None:
            message = translate(self.template)
            message = message % self.values if self.values else message
        body: dict[str, Any] = {"error": self.code, "message": message}
        if self.details:
            body["details"] = self.details
        return body


class NotFound(KassaError):
    status = 404
    code = "not_found"


class Unauthorized(KassaError):
    status = 401
    code = "unauthorized"


class Forbidden(KassaError):
    status = 403
    code = "forbidden"


class Conflict(KassaError):
    status = 409
    code = "conflict"


class Invalid(KassaError):
    status = 422
    code = "invalid_input"

