from django.core.management.base import BaseCommand, CommandError

from ingest import representation, selectors
from ingest.client import follow, present
from ingest.models import IngestJob
from jobs.lifecycle import events_for


class Command(BaseCommand):
    help = "Show an ingest job: status, progress, per-file results and audit trail."

    def add_arguments(self, parser):
        parser.add_argument("job_id", help="the job's id (a UUID)")

    def handle(self, *args, job_id, **options):
        job = find_job(job_id)
        data = representation.job(job)
        extra = [
            ("project", f"{job.project.name} ({job.project_id})"),
            ("created by", job.created_by.username if job.created_by else "-"),
            ("deleted", present.when(job.deleted_at)),
        ]
        events = [representation.event(e) for e in events_for(job)]
        colour = present.colours(self.stdout)
        for line in present.detail(data, events, extra=extra, colour=colour):
            self.stdout.write(line)


def find_job(job_id: str) -> IngestJob:
    """Any project's job, soft-deleted ones included: operators audit those too."""
    try:
        return selectors.job_find(job_id=job_id, include_deleted=True)
    except selectors.NotFound:
        raise CommandError(
            f"no job {job_id} exists (the id is a UUID).", returncode=follow.BAD_INPUT
        ) from None
