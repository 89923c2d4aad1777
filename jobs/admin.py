from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from jobs.models import JobEvent


@admin.register(JobEvent)
class JobEventAdmin(admin.ModelAdmin):
    """The audit trail: read-only for everyone, events of deleted jobs included."""

    list_display = [
        "at",
        "job_link",
        "job_name",
        "job_scope",
        "action",
        "from_status",
        "to_status",
        "actor",
        "reason",
        "extra",
    ]
    list_filter = ["action", "to_status", "content_type"]
    list_select_related = ["actor", "content_type"]
    # Events outlive a purge of their job: found by its id, name or scope.
    search_fields = ["job_id", "job_name", "job_scope", "reason"]
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="job", ordering="job_id")
    def job_link(self, event):
        # Generic: the job's own admin page, whatever its concrete type.
        name = f"admin:{event.content_type.app_label}_{event.content_type.model}_change"
        try:
            return format_html(
                '<a href="{}">{}</a>', reverse(name, args=[event.job_id]), event.job_id
            )
        except NoReverseMatch:
            return str(event.job_id)
