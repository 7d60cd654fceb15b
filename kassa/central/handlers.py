"""What central's HTTP handlers share: the request's database, the role sets that say who may
call what, and a CSV file sent as the request's body.

A handler parses with marshmallow, calls one service function inside ``db().transaction()``
(or ``db().read()``) and dumps what it returns; the checks, the locking and the audit line are
the service's (``kassa.central.<context>.<topic>``), never the handler's.
"""

from __future__ import annotations

import marshmallow as ma
from flask import current_app, request
from marshmallow import fields, validate

from kassa.common.db import Database
from kassa.common.errors import KassaError

# Who may call what, narrowest first: central office and admins; with regional managers (their
# region only); with store managers (their store only). Cashiers never sign in at central.
OPERATORS = ("admin", "central_office")
STAFF = OPERATORS + ("regional_manager",)
PEOPLE = STAFF + ("store_manager",)
# How regions and stores are named (tills and reports know them by it).
CODE = validate.Regexp(r"^[A-Z0-9-]{2,32}\Z", error="2-32 capital letters, digits or dashes")


def db() -> Database:
    """The database of the app serving this request."""
    return current_app.extensions["kassa_db"]


class ImportArgsSchema(ma.Schema):
    skip_bad = fields.Boolean(load_default=False, metadata={
        "description": "write the good rows and report the bad ones (default: all or nothing)"})


def csv_body() -> str:
    """The request's CSV file as text (415 unless ``text/csv``; 422 unless UTF-8)."""
    if request.mimetype != "text/csv":
        raise KassaError("Send the file as text/csv.", code="unsupported_media_type",
                         status=415)
    try:
        return request.get_data().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise KassaError("The file is not UTF-8.", code="bad_encoding", status=422) from None
