from datetime import datetime, timezone


def now_iso() -> str:
    """ISO-8601 UTC with milliseconds and Z, like JavaScript's toISOString()."""
    t = datetime.now(timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
