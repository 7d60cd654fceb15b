"""Refusals with a stable machine code and a human sentence; plain Python, no web import.

Domain and service code raise these; the web layer (``kassa.common.web``) turns them into
``{"error": code, "message": text}`` with the right HTTP status.
"""

from __future__ import annotations


class KassaError(Exception):
    """A refusal the caller can act on. Subclasses or instances carry code and HTTP status."""

    status = 400
    code = "bad_request"
    headers: dict[str, str] | None = None  # extra response headers (a sign-in challenge)

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 details: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.details = details

    def to_dict(self) -> dict:
        body = {"error": self.code, "message": self.message}
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

