from django.contrib import admin

from jobs.models import JobEvent


@admin.register(JobEvent)
class JobEventAdmin(admin.ModelAdmin):
    list_display = ["at", "job_id", "action", "from_status", "to_status", "actor", "reason"]
    list_filter = ["action", "to_status"]
    search_fields = ["job_id", "reason"]
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
