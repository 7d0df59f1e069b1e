"""HTTP-date parsing (RFC 9110 §5.6.7), for ``Retry-After`` and the server's ``Date``."""

from __future__ import annotations

import math
from datetime import timezone

__all__ = ["parse_http_date"]


def parse_http_date(value: str | None) -> float | None:
    """An HTTP-date as POSIX seconds.

    Accepts the three forms RFC 9110 asks recipients to read (IMF-fixdate,
    RFC 850 and asctime), and any zone the email parser knows. A date without
    a zone (asctime has none, ``-0000`` means unknown) is taken as UTC, which
    is what HTTP dates are.

    Returns:
        The seconds, or ``None`` when the value is missing, unparseable or
        not finite.
    """
    if value is None:
        return None
    # Here rather than at module level: email.utils brings socket and
    # calendar, and only a Retry-After or a reconcile ever reads a date.
    import email.utils

    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    seconds = when.timestamp()
    return seconds if math.isfinite(seconds) else None
