"""Times in the representation are UTC, as DRF would write them in this project."""

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from django.utils import timezone as django_timezone
from rest_framework import serializers

from ingest.representation import when


def test_a_time_is_written_in_utc_with_z_as_drf_writes_it():
    at = datetime(2026, 11, 30, 19, 46, 37, 140123, tzinfo=UTC)

    assert when(at) == "2026-11-30T19:46:37.140123Z"
    assert when(at) == serializers.DateTimeField().to_representation(at)
    assert when(at.replace(microsecond=0)) == "2026-11-30T19:46:37Z"
    assert when(at.replace(tzinfo=ZoneInfo("UTC"))) == "2026-11-30T19:46:37.140123Z"
    assert when(at.replace(tzinfo=None)) == "2026-11-30T19:46:37.140123Z"  # read as UTC
    assert when(None) is None


def test_a_time_in_another_zone_is_written_in_utc_whatever_zone_is_active():
    paris = datetime(2026, 7, 1, 12, 0, tzinfo=ZoneInfo("Europe/Paris"))
    behind = datetime(2026, 7, 1, 7, 0, tzinfo=timezone(timedelta(hours=-3)))

    with django_timezone.override("Asia/Tokyo"):
        assert when(paris) == "2026-07-01T10:00:00Z"
        assert when(behind) == "2026-07-01T10:00:00Z"
