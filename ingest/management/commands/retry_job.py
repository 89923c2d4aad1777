"""manage.py retry_job JOB_ID: a new job for what JOB_ID did not finish."""

from django.core.management.base import BaseCommand, CommandError

from ingest import selectors, services
from ingest.client import follow
from ingest.management.commands.ingest import (
    follow_job,
    quiet_logs,
    resolve_user,
    writable_membership,
)
from ingest.storage import StorageUnavailable
from jobs.lifecycle import InvalidTransition


class Command(BaseCommand):
    help = (
        "Retry a finished ingest job: a new job takes the files it did not finish, from the "
        "uploads already stored, and is followed like `ingest` (--no-wait returns at once). "
        "Exit status: 0 completed (or left running), 1 failed or refused, 2 bad input, "
        "3 cancelled."
    )

    def add_arguments(self, parser):
        parser.add_argument("job_id", help="the job's id (a UUID)")
        parser.add_argument(
            "--user", help="act as this user (default: the only superuser); must be a member"
        )
        parser.add_argument("--no-wait", action="store_true", help="return once it is queued")
        parser.add_argument(
            "--interval", type=float, default=0.5, help="seconds between progress reads"
        )

    def handle(self, *args, verbosity, job_id, user, no_wait, interval, **options):
        with quiet_logs(verbosity):
            actor = resolve_user(user)
            retry = self.retry(job_id, actor)
            self.stdout.write(
                f"job {retry.pk} created to retry {retry.items_total} file(s) of job "
                f"{retry.retry_of_id}."
            )
            if no_wait:
                return
            follow_job(self, retry, actor, interval=interval)

    def retry(self, job_id: str, actor):
        try:
            job = selectors.job_find(job_id=job_id)
        except selectors.NotFound:
            raise CommandError(
                f"no job {job_id} exists (or it was deleted).", returncode=follow.BAD_INPUT
            ) from None
        writable_membership(actor, str(job.project_id))
        try:
            return services.job_retry(job=job, actor=actor)
        except InvalidTransition as exc:
            # Refused as the API's 409 is: exit status 1, as cancel_job and the client do.
            raise CommandError(exc.message) from None
        except StorageUnavailable as exc:
            raise CommandError(f"the upload storage is unavailable: {exc.message}") from None
