import logging
import sys
from contextlib import ExitStack, contextmanager

from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError

from ingest import representation, selectors, services
from ingest.client import follow, present
from ingest.storage import StorageUnavailable
from jobs.lifecycle import InvalidTransition


class Command(BaseCommand):
    help = (
        "Ingest local files and folders (recursively) into a project, then follow the job with "
        "a live progress bar until it ends. Ctrl-C asks whether to cancel the job or leave it "
        "running. Exit status: 0 completed (or left running), 1 failed, 2 bad input, "
        "3 cancelled. Log lines are shown from -v 2."
    )

    def add_arguments(self, parser):
        parser.add_argument("project", help="the project's id or name")
        parser.add_argument("paths", nargs="+", help="files and folders to ingest")
        parser.add_argument("--name", default="", help="the job's name (default: from the files)")
        parser.add_argument("--chunk-size", type=int, help="characters per chunk")
        parser.add_argument("--chunk-overlap", type=int, help="characters shared by chunks")
        parser.add_argument(
            "--no-wait", action="store_true", help="create the job and return at once"
        )
        parser.add_argument(
            "--user", help="act as this user (default: the only superuser); must be a member"
        )
        parser.add_argument(
            "--interval", type=float, default=0.5, help="seconds between progress reads"
        )

    def handle(self, *args, verbosity, **options):
        with quiet_logs(verbosity):
            self.ingest(**options)

    def ingest(self, *, project, paths, user, no_wait, interval, **options):
        actor = resolve_user(user)
        membership = writable_membership(actor, project)
        try:
            files, skipped = follow.collect(paths, refusal)
        except follow.BadInput as exc:
            raise CommandError(str(exc), returncode=follow.BAD_INPUT) from None
        present.write_lines(real_stream(self.stderr), skipped)
        job = self.create(membership.project, actor, files, options)
        self.stdout.write(
            f"job {job.pk} {job.name!r} created in project {membership.project.name!r}: "
            f"{len(files)} files, {present.size_text(job.bytes_total)}."
        )
        if no_wait:
            return
        follow_job(self, job, actor, interval=interval)

    def create(self, project, actor, files, options):
        try:
            with ExitStack() as stack:
                uploads = [File(stack.enter_context(f.path.open("rb")), name=f.name) for f in files]
                job, _ = services.job_create(
                    project=project,
                    user=actor,
                    uploads=uploads,
                    name=options["name"],
                    chunk_size=options["chunk_size"],
                    chunk_overlap=options["chunk_overlap"],
                )
        except services.InvalidInput as exc:
            raise CommandError(exc.message, returncode=follow.BAD_INPUT) from None
        except StorageUnavailable as exc:
            raise CommandError(f"the upload storage is unavailable: {exc.message}") from None
        except OSError as exc:
            raise CommandError(
                f"{exc.filename} cannot be read ({exc.strerror}).", returncode=follow.BAD_INPUT
            ) from None
        except KeyboardInterrupt:
            # job_create removes what it stored and rolls back: nothing is left behind.
            raise CommandError(
                "interrupted before the job was created; nothing was ingested.",
                returncode=follow.INTERRUPTED,
            ) from None
        return job


def real_stream(stream):
    """The stream under Django's OutputWrapper: the progress bar writes partial
    lines (a carriage return, no newline), and the wrapper ends every write
    with a newline."""
    return getattr(stream, "_out", stream)


def follow_job(command: BaseCommand, job, actor, *, interval: float) -> None:
    """Follow ``job`` on the terminal until it ends (Ctrl-C asks whether to
    cancel it), then exit with the client's status for how it ended."""
    outcome = follow.follow(
        lambda: snapshot(job),
        lambda: cancel(job, actor),
        out=real_stream(command.stdout),
        err=real_stream(command.stderr),
        interval=interval,
        hint=f"see how it goes with: manage.py job {job.pk}",
    )
    if outcome.exit_status:
        sys.exit(outcome.exit_status)


@contextmanager
def quiet_logs(verbosity: int):
    """Log lines (a transition, a query) would tear the progress bar, and the
    audit trail keeps what matters; -v 2 shows them again."""
    previous = logging.root.manager.disable
    if verbosity < 2:
        logging.disable(logging.INFO)
    try:
        yield
    finally:
        logging.disable(previous)


def resolve_user(username: str | None):
    users = get_user_model().objects.filter(is_active=True)
    if username:
        user = users.filter(username=username).first()
        if user is None:
            raise CommandError(
                f"no active user is called {username!r}.", returncode=follow.BAD_INPUT
            )
        return user
    superusers = list(users.filter(is_superuser=True)[:2])
    if len(superusers) == 1:
        return superusers[0]
    which = "no superuser exists" if not superusers else "there are several superusers"
    raise CommandError(
        f"{which}; name the user to act as with --user USERNAME.", returncode=follow.BAD_INPUT
    )


def writable_membership(user, project: str):
    """The user's membership of the project named or numbered ``project``;
    only members and owners may start jobs."""
    try:
        membership = selectors.membership_get(user=user, project_id=project)
    except selectors.NotFound:
        membership = _membership_by_name(user, project)
    if not membership.can_write:
        raise CommandError(
            f"{user.username} is a {membership.role} of project {membership.project.name!r} and "
            "cannot start jobs; act as a member or owner with --user.",
            returncode=follow.BAD_INPUT,
        )
    return membership


def _membership_by_name(user, name: str):
    projects = list(
        selectors.project_list(user=user, with_counts=False).queryset().filter(name=name)[:2]
    )
    project = only_project(
        projects,
        several=f"several of {user.username}'s projects are called {name!r}",
        none=f"{user.username} is not a member of any project called or numbered {name!r}.",
    )
    return selectors.membership_get(user=user, project_id=project.pk)


def only_project(found: list, *, several: str, none: str):
    """The one project a name found; a bad-input error when it found several or none."""
    if len(found) > 1:
        raise CommandError(f"{several}; give the project's id.", returncode=follow.BAD_INPUT)
    if not found:
        raise CommandError(none, returncode=follow.BAD_INPUT)
    return found[0]


def refusal(local: follow.LocalFile) -> str | None:
    """Why the service would refuse this file alone (type, emptiness, size), or None."""
    with local.path.open("rb") as handle:
        try:
            services.check_uploads([File(handle, name=local.name)])
        except services.InvalidInput as exc:
            return exc.message
    return None


def snapshot(job) -> dict:
    """The job now, as the API shows it."""
    try:
        fresh = selectors.job_get(project=job.project, job_id=job.pk)
    except selectors.NotFound:
        raise CommandError(f"job {job.pk} was deleted while it was being followed.") from None
    return representation.job(fresh)


def cancel(job, actor) -> dict:
    try:
        services.job_cancel(job=job, actor=actor, reason="cancelled from the command line")
    except InvalidTransition as exc:
        raise follow.Refused(exc.message) from None
    return snapshot(job)
