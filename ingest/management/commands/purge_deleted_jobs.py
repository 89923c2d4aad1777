"""Hard-delete jobs soft-deleted long enough ago, with their files.

manage.py purge_deleted_jobs --older-than 30d [--dry-run]
"""

import re
from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from ingest import services

UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(value: str) -> timedelta:
    match = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", value.lower())
    if not match:
        raise CommandError(
            f"--older-than {value!r}: give a number and a unit (s, m, h, d or w), e.g. 30d."
        )
    # The age is subtracted from now: it may reach back to the year 1, no further.
    longest = timezone.now() - datetime.min.replace(tzinfo=UTC)
    try:
        age = timedelta(**{UNITS[match[2]]: int(match[1])})
    except OverflowError:
        age = timedelta.max
    if age > longest:
        raise CommandError(
            f"--older-than {value!r} is too large: it reaches back before the year 1; "
            f"give at most {longest.days} days."
        )
    return age


class Command(BaseCommand):
    help = "Purge (hard-delete) jobs soft-deleted more than --older-than ago, with their files."

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            required=True,
            help="how long ago the job was deleted, e.g. 30d, 12h, 2w",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="print what would be purged, remove nothing"
        )

    def handle(self, *args, older_than: str, dry_run: bool, **options):
        # Parsed here, not as the argument's type: a CommandError raised while
        # argparse reads the line escapes Django's handler as a traceback.
        older_than = parse_age(older_than)
        jobs = services.purge_deleted_jobs(age=older_than, dry_run=dry_run, via="command")
        verb = "would purge" if dry_run else "purged"
        files = freed = 0
        for job in jobs:
            report = getattr(job, "purge_report", None)
            removed = ""
            if report is not None:
                files, freed = files + report.files_removed, freed + report.bytes_freed
                removed = f": {report.files_removed} stored file(s), {report.bytes_freed} bytes"
            self.stdout.write(
                f"{verb} job {job.pk} ({job.name!r}, project {job.project_id}, "
                f"deleted {job.deleted_at:%Y-%m-%d %H:%M}){removed}"
            )
        summary = f"{verb} {len(jobs)} job(s) deleted more than {older_than} ago"
        if not dry_run:
            summary += f", removing {files} stored file(s) ({freed} bytes)"
        self.stdout.write(summary + ".")
