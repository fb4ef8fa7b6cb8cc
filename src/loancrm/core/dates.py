"""Local (Asia/Shanghai) calendar days as aware datetimes, for date-range filters."""

from datetime import date, datetime, time

from django.utils import timezone


def local_day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def parse_date(text: str | None) -> date | None:
    try:
        return date.fromisoformat(str(text or "")[:10])
    except ValueError:
        return None
