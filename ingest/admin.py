from django.contrib import admin

from ingest.models import Chunk, Document, IngestFile, IngestJob, Membership, Project


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "id", "created_by", "created_at"]
    search_fields = ["name", "id"]
    inlines = [MembershipInline]


class IngestFileInline(admin.TabularInline):
    model = IngestFile
    extra = 0
    can_delete = False
    fields = ["position", "name", "size", "kind", "status", "chunks", "error"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(IngestJob)
class IngestJobAdmin(admin.ModelAdmin):
    list_display = ["name", "id", "project", "status", "created_at", "deleted_at"]
    list_filter = ["status"]
    search_fields = ["id", "name"]
    date_hierarchy = "created_at"
    inlines = [IngestFileInline]
    readonly_fields = [f.name for f in IngestJob._meta.fields]

    def get_queryset(self, request):
        # Auditors see every row, deleted ones included.
        return IngestJob.all_objects.select_related("project")

    def has_add_permission(self, request):
        return False


@admin.register(IngestFile)
class IngestFileAdmin(admin.ModelAdmin):
    list_display = ["name", "job", "kind", "size", "status", "chunks"]
    list_filter = ["status", "kind"]
    search_fields = ["name", "job__id", "sha256"]
    readonly_fields = [f.name for f in IngestFile._meta.fields]


class ChunkInline(admin.TabularInline):
    model = Chunk
    extra = 0
    fields = ["index", "start", "end", "text"]
    readonly_fields = fields
    max_num = 0


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ["title", "project", "chunk_count", "size", "job", "created_at"]
    search_fields = ["title", "sha256", "id"]
    readonly_fields = [f.name for f in Document._meta.fields]
    inlines = [ChunkInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role", "created_at"]
    list_filter = ["role"]
