"""Every write with a rule behind it. The API, the dashboard, admin actions and
management commands all call these functions: one rule, one place.

A package since it passed the house limit of ~400 lines; the interfaces import
from here (``from ingest import services``), and only what they use is
exported. Tests of a module's own helpers import that module.
"""

from ingest.services.cleanup import (
    CleanupReport,
    job_cleanup,
    job_purge,
    job_restore,
    purge_deleted_jobs,
)
from ingest.services.errors import (
    NOT_A_MEMBER,
    NOT_FOUND,
    VIEWERS_READ_ONLY,
    InvalidInput,
    LastOwner,
    PermissionRefused,
)
from ingest.services.intake import (
    MAX_IDEMPOTENCY_KEY,
    check_file_name,
    check_uploads,
    job_create,
)
from ingest.services.jobs import job_cancel, job_delete
from ingest.services.projects import (
    membership_add,
    membership_remove,
    project_create,
    project_named,
)
from ingest.services.queue import QUEUE_NAME, ingest_queue, job_enqueue
from ingest.services.refusals import Refusal, refusal_for
from ingest.services.retry import job_retry

__all__ = [
    "MAX_IDEMPOTENCY_KEY",
    "NOT_A_MEMBER",
    "NOT_FOUND",
    "QUEUE_NAME",
    "VIEWERS_READ_ONLY",
    "CleanupReport",
    "InvalidInput",
    "LastOwner",
    "PermissionRefused",
    "Refusal",
    "check_file_name",
    "check_uploads",
    "ingest_queue",
    "job_cancel",
    "job_cleanup",
    "job_create",
    "job_delete",
    "job_enqueue",
    "job_purge",
    "job_restore",
    "job_retry",
    "membership_add",
    "membership_remove",
    "project_create",
    "project_named",
    "purge_deleted_jobs",
    "refusal_for",
]
