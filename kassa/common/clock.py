"""The wall clock kassa reads: the machine's, moved by ``KASSA_CLOCK_OFFSET`` seconds.

A till's clock that is hours or days off is a fault real shops have; the offset reproduces it
in one process for drills and the fault-injection tests (``tests/e2e/test_sync_chaos.py``).
libfaketime was tried first and breaks Python 3.11 (``time.sleep`` fails with EINVAL, or
``threading.Event.wait`` hangs, depending on its monotonic-clock settings): decisions #17.
Monotonic time (timeouts, back-off) is never moved.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from kassa.common.config import clock_offset_seconds

OFFSET_S = clock_offset_seconds()
_OFFSET = timedelta(seconds=OFFSET_S)


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc) + _OFFSET


def timestamp() -> float:
    """Unix seconds."""
    return time.time() + OFFSET_S
