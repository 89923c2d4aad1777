from django.core.management.base import BaseCommand

from ingest import representation, selectors
from ingest.client import present
from ingest.management.commands.ingest import only_project
from ingest.models import Project
from jobs.models import JobStatus


class Command(BaseCommand):
    help = (
        "List a project's ingest jobs, newest first: id, name, status, progress, created, "
        "finished. --deleted adds the soft-deleted ones."
    )

    def add_arguments(self, parser):
        parser.add_argument("project", help="the project's id or name")
        parser.add_argument(
            "--status", choices=JobStatus.values, help="only the jobs in this status"
        )
        parser.add_argument(
            "--deleted", action="store_true", help="include soft-deleted jobs (marked)"
        )
        parser.add_argument("--limit", type=int, default=100, help="at most this many rows")

    def handle(self, *args, project, status, deleted, limit, **options):
        project = find_project(project)
        jobs = selectors.job_list(project=project, status=status, include_deleted=deleted)
        total = jobs.count()
        if not total:
            which = f"{status} jobs" if status else "jobs"
            self.stdout.write(f"no {which} in project {project.name!r}.")
            return
        rows = list(jobs[: max(limit, 0)])
        data = [representation.job(job, with_result=False) for job in rows]
        for job, row in zip(rows, data, strict=True):
            row["deleted_at"] = job.deleted_at
        for line in present.table(data, colour=present.colours(self.stdout)):
            self.stdout.write(line)
        if total > len(rows):
            self.stdout.write(f"showing {len(rows)} of {total} jobs; raise --limit to see more.")


def find_project(value: str) -> Project:
    """A project by id or by name, for operators (no membership check)."""
    return only_project(
        selectors.projects_called(id_or_name=value),
        several=f"several projects are called {value!r}",
        none=f"no project is called or numbered {value!r}.",
    )
