"""What the dashboard's templates say of a job, from the domain's own rules
(``ingest.representation``), so that no template repeats them."""

from django import template

from ingest import actions, representation

register = template.Library()


@register.filter
def status_label(job) -> str:
    """ "Completed", "Cancelling…", "Deleted (had completed)"."""
    return representation.status_label(job)


@register.filter
def allowed_actions(job) -> list[str]:
    """What the job allows now (``ingest.actions``): read once per row."""
    return actions.job_actions(job)


@register.filter
def files_succeeded(job) -> int:
    """Files finished without failing: done, or already in the project."""
    return job.items_done - job.items_failed
