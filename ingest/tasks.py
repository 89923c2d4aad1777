"""RQ entry points only: load the row, call the pipeline."""

from django.conf import settings

from ingest.models import IngestJob
from ingest.pipeline.steps import ingest
from jobs.runner import run_job


def run_ingest_job(job_id: str) -> str:
    return run_job(IngestJob, job_id, ingest, work_root=settings.INGEST_WORK_DIR)
