"""Retry: a new job for what a finished job did not finish, from the uploads
already stored. Nothing is sent again; nothing done is done twice."""

import logging

from django.db import transaction
from django.db.models import Q

from ingest import actions, storage
from ingest.models import FileMember, FileStatus, IngestFile, IngestJob
from ingest.services.intake import JOB_NAME_LENGTH, remove_stored_files, shorten
from ingest.services.queue import job_enqueue
from jobs import lifecycle

logger = logging.getLogger(__name__)

FINISHED_FILE_STATUSES = frozenset({FileStatus.DONE, FileStatus.DUPLICATE})


def unfinished_files(job: IngestJob) -> list[IngestFile]:
    return [f for f in job.files.order_by("position") if f.status not in FINISHED_FILE_STATUSES]


def latest_attempt(job: IngestJob) -> IngestJob:
    """The newest live job of ``job``'s chain of retries, when it is newer
    than ``job``; else ``job`` itself.

    A retry that was deleted does not count: what it finished is still known
    from its files, but it is no longer anyone's attempt. Its own retries
    still do: deleting the middle of a chain leaves its newest job the one
    to retry. The live jobs of a chain are one line (a retry is made only
    from the newest, and a restore that would fork it is refused), so a live
    job newer than ``job`` retries it, or a retry of it.
    """
    if job.chain is None:
        return job
    newer = actions.later_attempts(job.chain, job.created_at)
    return newer.order_by("-created_at").first() or job


def lock_chain(job: IngestJob) -> None:
    """Lock every job of ``job``'s chain, deleted ones included, in one order:
    retries and restores of one chain take their turns, so that two cannot
    both find it unforked (locking its first job alone locked nothing once
    that job was purged)."""
    chain = Q(chain=job.chain) if job.chain else Q(pk=job.pk)
    list(IngestJob.all_objects.select_for_update().filter(chain).order_by("pk").values_list("pk"))


def job_retry(*, job: IngestJob, actor) -> IngestJob:
    """Create a job (``retry_of`` = ``job``) holding only the files ``job`` did
    not finish, copied from its stored uploads, and enqueue it after commit.

    Refused (``lifecycle.InvalidTransition``, 409) when ``job`` is still
    active, when nothing is left to do, when its uploads were removed by a
    cleanup, or when it was retried already: only the newest job of a chain of
    retries can be retried (the message names it). A COMPLETED job with failed
    files can be retried too: its failed files are what a retry is for.

    A zip that stopped part-way keeps the members already written: the new
    file carries their results, and the worker skips them.
    """
    with transaction.atomic():
        # The locks make two concurrent retries of one chain queue up: the
        # second sees the first's retry and is refused.
        lock_chain(IngestJob.objects.get(pk=job.pk))
        job = IngestJob.objects.get(pk=job.pk)  # as it stands under the lock
        source = _source_of(job)
        files = unfinished_files(source)
        if not files:
            raise lifecycle.InvalidTransition(
                job, "retry", "nothing to retry: every file of this job is done."
            )
        missing = [
            f.name for f in files if not f.storage_path or not storage.exists(f.storage_path)
        ]
        if missing:
            raise lifecycle.InvalidTransition(
                job,
                "retry",
                f"its uploads were removed by a cleanup ({', '.join(missing[:3])}); "
                "upload the files again in a new job.",
            )
        retry = _create_retry(job, files, actor)
        lifecycle.record_action(
            job, action="retry", actor=actor, reason=f"retried as job {retry.pk}"
        )
        transaction.on_commit(lambda: job_enqueue(job=retry))
    logger.info("job %s retried as %s with %s file(s)", job.pk, retry.pk, len(files))
    return retry


def _source_of(job: IngestJob) -> IngestJob:
    """The job whose unfinished files a retry of ``job`` takes: ``job`` itself,
    and only while it is the newest job of its chain. Two retries of one
    chain at once would be two live jobs for the same files."""
    if not job.is_terminal:
        raise lifecycle.InvalidTransition(
            job, "retry", f"job is {job.status}: wait until it finishes, or cancel it, then retry."
        )
    attempt = latest_attempt(job)
    if attempt.pk == job.pk:
        return job
    if not attempt.is_terminal:
        raise lifecycle.InvalidTransition(
            job, "retry", f"job {attempt.pk} is already retrying it ({attempt.status})."
        )
    if not unfinished_files(attempt):
        raise lifecycle.InvalidTransition(
            job,
            "retry",
            f"job {attempt.pk} already retried it and finished every file; nothing is left to retry.",
        )
    raise lifecycle.InvalidTransition(
        job,
        "retry",
        f"job {attempt.pk} retried it and ended {attempt.status}: retry that job, "
        "the newest of the chain, to take what is left.",
    )


def _create_retry(job: IngestJob, files: list[IngestFile], actor) -> IngestJob:
    if job.chain is None:  # its first retry: the chain begins with it
        job.chain = job.pk
        job.save(update_fields=["chain"])
    retry = IngestJob.objects.create(
        project=job.project,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        name=_retry_name(job.name),
        chunk_size=job.chunk_size,
        chunk_overlap=job.chunk_overlap,
        items_total=len(files),
        bytes_total=sum(f.size for f in files),
        retry_of=job,
        chain=job.chain,
    )
    copied: list[str] = []
    try:
        for position, original in enumerate(files):
            target = storage.upload_path(retry, position, _tail(original))
            copied.append(storage.copy(original.storage_path, target))
            copy = IngestFile.objects.create(
                job=retry,
                position=position,
                name=original.name,
                size=original.size,
                content_type=original.content_type,
                kind=original.kind,
                sha256=original.sha256,
                storage_path=target,
            )
            _copy_finished_members(original, copy)
    except BaseException:
        _remove_quietly(copied)  # the rows go with the rollback; the copies must go too
        raise
    lifecycle.record_created(retry, actor=actor, reason=f"retry of job {job.pk}")
    return retry


def _copy_finished_members(original: IngestFile, copy: IngestFile) -> None:
    """The members ``original`` finished, as ``copy``'s: the worker skips them."""
    finished = original.member_results.filter(status__in=FINISHED_FILE_STATUSES)
    rows = [
        FileMember(
            file=copy,
            position=position,
            name=member.name,
            status=member.status,
            document=member.document,
            chunks=member.chunks,
            error=member.error,
            details=member.details,
        )
        for position, member in enumerate(finished)
    ]
    FileMember.objects.bulk_create(rows)
    copy.members_count = len(rows)
    copy.save(update_fields=["members_count"])


def _tail(ingest_file: IngestFile) -> str:
    """The stored name without its position prefix."""
    last = ingest_file.storage_path.rsplit("/", 1)[-1]
    head, _, rest = last.partition("-")
    return rest if head.isdigit() and rest else last


def _retry_name(name: str) -> str:
    return name if name.startswith("Retry of ") else shorten(f"Retry of {name}", JOB_NAME_LENGTH)


def _remove_quietly(paths: list[str]) -> None:
    try:
        remove_stored_files(paths)
    except storage.StorageUnavailable as exc:
        logger.warning("copies %s not removed: %s", paths, exc)
