"""Every write with a rule behind it. The API, the dashboard, admin actions and
management commands all call these functions: one rule, one place.

A package since it passed the house limit of ~400 lines; callers import
from here (``from ingest import services``), not from its modules.
"""

from ingest.services.cleanup import (
    CleanupReport,
    deleted_jobs_older_than,
    job_cleanup,
    job_purge,
    job_purge_counted,
    job_restore,
    own_documents,
    purge_deleted_jobs,
    remove_rq_entries,
    remove_work_dir,
)
from ingest.services.errors import (
    NOT_A_MEMBER,
    NOT_FOUND,
    VIEWERS_READ_ONLY,
    IdempotencyConflict,
    IdempotencyMismatch,
    InvalidInput,
    LastOwner,
    PermissionRefused,
)
from ingest.services.intake import (
    MAX_IDEMPOTENCY_KEY,
    CheckedUpload,
    check_chunking,
    check_uploads,
    job_create,
    remove_stored_files,
)
from ingest.services.projects import membership_add, project_create
from ingest.services.queue import (
    QUEUE_NAME,
    ingest_queue,
    job_cancel,
    job_delete,
    job_enqueue,
    remove_from_queue,
)
from ingest.services.refusals import Refusal, refusal_for
from ingest.services.retry import job_retry, latest_attempt

__all__ = [
    "MAX_IDEMPOTENCY_KEY",
    "NOT_A_MEMBER",
    "NOT_FOUND",
    "QUEUE_NAME",
    "VIEWERS_READ_ONLY",
    "CheckedUpload",
    "CleanupReport",
    "IdempotencyConflict",
    "IdempotencyMismatch",
    "InvalidInput",
    "LastOwner",
    "PermissionRefused",
    "Refusal",
    "check_chunking",
    "check_uploads",
    "deleted_jobs_older_than",
    "ingest_queue",
    "job_cancel",
    "job_cleanup",
    "job_create",
    "job_delete",
    "job_enqueue",
    "job_purge",
    "job_purge_counted",
    "job_restore",
    "job_retry",
    "latest_attempt",
    "membership_add",
    "own_documents",
    "project_create",
    "purge_deleted_jobs",
    "refusal_for",
    "remove_from_queue",
    "remove_rq_entries",
    "remove_stored_files",
    "remove_work_dir",
]
