"""What every dashboard page's templates may use: the header's list of the
user's projects, and what a cancelling job does (the cancel dialog says it)."""

from ingest import selectors
from ingest.representation import STATUS_NOTES
from jobs.models import JobStatus


def dashboard(request) -> dict:
    context = {"cancelling_note": STATUS_NOTES[JobStatus.CANCELLING]}
    if request.user.is_authenticated:
        # A lazy QuerySet: a partial that does not show the header runs no query.
        context["nav_projects"] = selectors.project_list(user=request.user, with_counts=False)
    return context
