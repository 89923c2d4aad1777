"""What every dashboard page's templates may use."""

from ingest.representation import STATUS_NOTES
from jobs.models import JobStatus


def dashboard(request) -> dict:
    return {"cancelling_note": STATUS_NOTES[JobStatus.CANCELLING]}
