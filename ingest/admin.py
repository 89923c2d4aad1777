"""Admin for operators and auditors.

Staff in the "auditors" group (created by a data migration) hold view
permissions only: they see every job, deleted ones included, with its files
and audit trail, and change nothing. Jobs, files and documents are records of
what happened, so no one edits them here; the actions (cancel, clean up,
delete, restore, and purge for superusers) call the same services as the API,
and each writes an admin log entry.
"""

from django.contrib import admin, messages
from django.contrib.contenttypes.admin import GenericTabularInline
from django.db.models import QuerySet
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import formats, timezone
from django_rq.admin import QueueAdmin
from django_rq.models import Dashboard

from ingest import representation, retention, services
from ingest.models import (
    Chunk,
    Document,
    FileMember,
    IngestFile,
    IngestJob,
    Membership,
    Project,
)
from jobs.lifecycle import InvalidTransition
from jobs.models import JobEvent


class ReadOnlyMixin:
    """Nothing editable, for anyone: these rows are the audit record."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "id", "created_by", "created_at"]
    search_fields = ["name", "id"]
    inlines = [MembershipInline]


class IngestFileInline(ReadOnlyMixin, admin.TabularInline):
    model = IngestFile
    extra = 0
    can_delete = False
    fields = ["position", "name", "size", "kind", "status", "chunks", "error"]
    readonly_fields = fields


class JobEventInline(ReadOnlyMixin, GenericTabularInline):
    model = JobEvent
    ct_field = "content_type"
    ct_fk_field = "job_id"
    extra = 0
    can_delete = False
    fields = ["at", "action", "from_status", "to_status", "actor", "reason", "extra"]
    readonly_fields = fields
    ordering = ["at", "id"]


class DeletedFilter(admin.SimpleListFilter):
    title = "deleted"
    parameter_name = "deleted"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.deleted()
        if self.value() == "no":
            return queryset.alive()
        return queryset


SHOWN_AS_STATE = ["status", "status_before_delete"]


@admin.register(IngestJob)
class IngestJobAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["name", "id", "project", "state", "created_at", "deleted_at", "purge_at"]
    list_filter = [DeletedFilter, "status"]
    list_select_related = ["project"]
    search_fields = ["id", "name"]
    date_hierarchy = "created_at"
    inlines = [IngestFileInline, JobEventInline]
    # The status shown once, as "state": a deleted job's "cancelled" (the
    # delete's doing) with what it had been before.
    exclude = SHOWN_AS_STATE
    readonly_fields = [
        "state",
        *(f.name for f in IngestJob._meta.fields if f.name not in SHOWN_AS_STATE),
        "purge_at",
    ]

    @admin.display(description="status", ordering="status")
    def state(self, job):
        """The status, and for a deleted job (which a delete sets cancelled)
        what it was before: "Deleted (had completed)"."""
        return representation.status_label(job)

    @admin.display(description="purge due")
    def purge_at(self, job):
        """When the reaper will purge a deleted job (INGEST_PURGE_AFTER_DAYS
        after its deletion): a date to come, written as the dashboard writes one."""
        when = retention.purge_at(job)
        return formats.date_format(timezone.localtime(when), "M j, Y, H:i T") if when else None

    def view_on_site(self, job):
        # The job's page on the dashboard, which auditors may open, deleted or not.
        return reverse("ingest:job-detail", kwargs={"project_id": job.project_id, "job_id": job.pk})

    actions = [
        "cancel_jobs",
        "cleanup_jobs",
        "cleanup_jobs_and_documents",
        "delete_jobs",
        "restore_jobs",
        "purge_jobs",
    ]

    def get_queryset(self, request):
        # Auditors see every row, deleted ones included.
        return IngestJob.all_objects.select_related("project")

    def has_delete_permission(self, request, obj=None):
        # Model.delete() would be a hard delete: deletion goes through the actions.
        return False

    def has_operate_permission(self, request):
        return request.user.has_perm("ingest.change_ingestjob")

    def has_purge_permission(self, request):
        return request.user.is_superuser

    def run_action(self, request, queryset: QuerySet, verb: str, service) -> None:
        """Call ``service(job)`` for each job; log and count what it did, report refusals."""
        done, refused = 0, []
        for job in queryset:
            try:
                message = service(job)
            except InvalidTransition as exc:
                refused.append(f"{job.name}: {exc.message}")
                continue
            if message:
                self.log_change(request, job, message)
                done += 1
        if done:
            self.message_user(request, f"{verb} {done} job(s).", messages.SUCCESS)
        if refused:
            self.message_user(request, "Refused: " + " ".join(refused), messages.WARNING)

    @admin.action(description="Cancel selected jobs", permissions=["operate"])
    def cancel_jobs(self, request, queryset):
        def cancel(job):
            outcome = services.job_cancel(job=job, actor=request.user, reason="cancelled in admin")
            return f"Cancelled ({outcome.from_status} -> {outcome.to_status})."

        self.run_action(request, queryset, "Cancelled", cancel)

    @admin.action(
        description="Clean up selected jobs (files, queue entries)", permissions=["operate"]
    )
    def cleanup_jobs(self, request, queryset):
        def cleanup(job):
            return "Cleaned up: " + services.job_cleanup(job=job, actor=request.user).detail

        self.run_action(request, queryset, "Cleaned up", cleanup)

    @admin.action(
        description="Clean up selected jobs and the documents only they produced",
        permissions=["operate"],
    )
    def cleanup_jobs_and_documents(self, request, queryset):
        def cleanup(job):
            report = services.job_cleanup(job=job, actor=request.user, documents=True)
            return "Cleaned up with documents: " + report.detail

        self.run_action(request, queryset, "Cleaned up", cleanup)

    @admin.action(description="Delete selected finished jobs (soft)", permissions=["operate"])
    def delete_jobs(self, request, queryset):
        def delete(job):
            if services.job_delete(job=job, actor=request.user, reason="deleted in admin"):
                return "Deleted (soft)."
            return None  # deleted meanwhile

        self.run_action(request, queryset.alive(), "Deleted", delete)

    @admin.action(description="Restore selected deleted jobs", permissions=["operate"])
    def restore_jobs(self, request, queryset):
        def restore(job):
            outcome = services.job_restore(job=job, actor=request.user, reason="restored in admin")
            return f"Restored as {outcome.to_status}."

        self.run_action(request, queryset, "Restored", restore)

    @admin.action(description="Purge selected deleted jobs for good", permissions=["purge"])
    def purge_jobs(self, request, queryset):
        purged, refused = [], []
        for job in queryset:
            if not job.is_deleted:
                refused.append(job.name)
            elif services.job_purge(job=job, actor=request.user, via="admin"):
                purged.append(job)
        if purged:
            # Logged once the rows are gone: the entries keep their ids and names.
            self.log_deletions(request, purged)
            self.message_user(request, f"Purged {len(purged)} job(s).", messages.SUCCESS)
        if refused:
            self.message_user(
                request,
                f"Not purged (delete them first): {', '.join(refused)}.",
                messages.WARNING,
            )


@admin.register(IngestFile)
class IngestFileAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["name", "job", "kind", "size", "status", "chunks"]
    list_filter = ["status", "kind"]
    list_select_related = ["job"]
    search_fields = ["name", "job__id", "sha256"]
    readonly_fields = [f.name for f in IngestFile._meta.fields]

    def has_delete_permission(self, request, obj=None):
        return False  # files go with a cleanup or a purge of their job


class ChunkInline(ReadOnlyMixin, admin.TabularInline):
    model = Chunk
    extra = 0
    can_delete = False
    fields = ["index", "start", "end", "text"]
    readonly_fields = fields


@admin.register(FileMember)
class FileMemberAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """A zip's members and a message's attachments, each with its result."""

    list_display = ["name", "file", "status", "chunks", "error"]
    list_filter = ["status"]
    list_select_related = ["file"]
    search_fields = ["name", "file__name", "=file__job__id"]


@admin.register(Document)
class DocumentAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["title", "project", "chunk_count", "size", "origin_job_name", "created_at"]
    list_select_related = ["project"]
    # The origin_* fields outlive a purge of the job: auditors search them.
    search_fields = [
        "title",
        "sha256",
        "id",
        "origin_job_id",
        "origin_job_name",
        "origin_file_name",
    ]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Document._meta.fields]
    inlines = [ChunkInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role", "created_at"]
    list_filter = ["role"]


class QueueDashboardAdmin(QueueAdmin):
    """The admin index's entry for django-rq's dashboard, shown to every staff
    user (django-rq itself shows it only to holders of its own permission).

    django-rq's ``QueueAdmin`` serves all of its views a second time under
    ``/admin/django_rq/dashboard/``, where only staff status is checked: an
    auditor could stop jobs and empty queues there. The dashboard has one
    mount, ``/admin/django-rq/``, whose guard lets only superusers act; this
    entry leads there and serves nothing else.
    """

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_changelist"
        return [path("", self.admin_site.admin_view(self.changelist_view), name=name)]

    def changelist_view(self, request, extra_context=None):
        return redirect("django_rq:home")


if admin.site.is_registered(Dashboard):
    admin.site.unregister(Dashboard)
admin.site.register(Dashboard, QueueDashboardAdmin)
