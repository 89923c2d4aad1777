import factory
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from ingest import results
from ingest.models import (
    Document,
    FileMember,
    IngestFile,
    IngestJob,
    Membership,
    Project,
    Role,
)
from ingest.search import index


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "password")

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    created_by = factory.SubFactory(UserFactory)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.MEMBER


class IngestJobFactory(factory.django.DjangoModelFactory):
    """A job row in any state. Status is set at creation only, as a fixture: at
    run time only ``jobs.lifecycle`` changes it."""

    class Meta:
        model = IngestJob

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"job {n}")
    chunk_size = 200
    chunk_overlap = 20
    created_by = factory.SelfAttribute("project.created_by")


class IngestFileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = IngestFile
        skip_postgeneration_save = True  # the members hook writes its own rows

    class Params:
        content = b"Hello world.\n"

    job = factory.SubFactory(IngestJobFactory)
    position = factory.Sequence(lambda n: n)
    name = factory.Sequence(lambda n: f"file{n}.txt")
    size = factory.LazyAttribute(lambda f: len(f.content))
    content_type = "text/plain"
    kind = "txt"
    sha256 = "0" * 64
    storage_path = factory.LazyAttribute(
        lambda f: default_storage.save(f"jobs/test/{f.name}", ContentFile(f.content))
    )

    @factory.post_generation
    def members(self, create, results, **kwargs):
        """``members=[{"name": ..., "status": ...}, ...]``: its members' results, as rows."""
        for result in results or []:
            FileMember.objects.create(
                file=self,
                position=self.members_count,
                name=result["name"],
                status=result.get("status", "done"),
                document=result.get("document"),
                chunks=result.get("chunks") or 0,
                error=result.get("error") or "",
                details={k: v for k, v in result.items() if k not in MEMBER_COLUMNS},
            )
            self.members_count += 1
        if results:
            IngestFile.objects.filter(pk=self.pk).update(members_count=self.members_count)


MEMBER_COLUMNS = {"name", "status", "document", "chunks", "error"}


def member_results(ingest_file) -> list[dict]:
    """The file's members' results, in order, as its job's result shows them."""
    rows = FileMember.objects.filter(file=ingest_file).order_by("position")
    return [results.MEMBER_RESULT(row) for row in rows]


class DocumentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Document

    project = factory.SubFactory(ProjectFactory)
    title = factory.Sequence(lambda n: f"doc {n}")
    sha256 = factory.Sequence(lambda n: f"{n:064x}")
    size = 10
    job = None
    source_file = None
    # As the pipeline writes them: the provenance that outlives a purge.
    origin_job_id = factory.LazyAttribute(lambda d: d.job.pk if d.job else None)
    origin_job_name = factory.LazyAttribute(lambda d: d.job.name if d.job else "")
    origin_file_id = factory.LazyAttribute(lambda d: d.source_file.pk if d.source_file else None)
    origin_file_name = factory.LazyAttribute(lambda d: d.source_file.name if d.source_file else "")
    # Indexed as the pipeline indexes a title.
    terms = factory.LazyAttribute(lambda d: index.document_fields(d.title)["terms"])
    search = factory.LazyAttribute(lambda d: index.document_fields(d.title)["search"])
