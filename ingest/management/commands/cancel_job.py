from django.core.management.base import BaseCommand, CommandError

from ingest import selectors, services
from ingest.representation import STATUS_NOTES
from jobs.lifecycle import InvalidTransition
from jobs.models import JobStatus


class Command(BaseCommand):
    help = (
        "Cancel an ingest job: a queued job is cancelled at once; a running one is cancelling: "
        f"{STATUS_NOTES[JobStatus.CANCELLING]} Asks for confirmation unless --yes."
    )

    def add_arguments(self, parser):
        parser.add_argument("job_id", help="the job's id (a UUID)")
        parser.add_argument("--reason", default="", help="why, for the audit trail")
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    def handle(self, *args, job_id, reason, yes, **options):
        try:
            job = selectors.job_find(job_id=job_id)
        except selectors.NotFound:
            raise CommandError(f"no job {job_id} exists (or it was deleted).") from None
        self.stdout.write(describe(job))
        if not yes and not self.confirm(job):
            raise CommandError("nothing was cancelled.")
        try:
            outcome = services.job_cancel(
                job=job, reason=reason or "cancelled from the command line"
            )
        except InvalidTransition as exc:
            raise CommandError(exc.message) from None
        if outcome.to_status == JobStatus.CANCELLED:
            self.stdout.write(f"Job {job.pk} cancelled; it had not started.")
        else:
            self.stdout.write(f"Job {job.pk} is cancelling: {STATUS_NOTES[outcome.to_status]}")

    def confirm(self, job) -> bool:
        # A closed or non-interactive stdin answers "no": nothing is cancelled by accident.
        try:
            answer = input(f"Cancel job {job.name!r}? [y/N] ")
        except EOFError:
            return False
        return answer.strip().lower() in {"y", "yes"}


def describe(job) -> str:
    return (
        f"Job {job.pk} {job.name!r} in project {job.project.name!r}: {job.status}, "
        f"{job.items_done} of {job.items_total} files, {job.percent}% done."
    )
