"""Each output shape is declared once: the answer and the schema come from the
same declaration, and what a shape answers is of the kinds it declares."""

import uuid
from datetime import datetime

import pytest

from ingest import representation, results, shapes
from ingest.api import serializers as s
from ingest.api.shapes import output
from ingest.models import DocumentSource
from jobs.models import JobStatus
from tests.factories import DocumentFactory, IngestFileFactory, IngestJobFactory

pytestmark = pytest.mark.django_db

SHAPES = [
    representation.JOB,
    representation.JOB_SUMMARY,
    representation.PROGRESS,
    results.RESULT,
    results.FILE_RESULT,
    representation.PROJECT,
    representation.DOCUMENT,
    representation.DOCUMENT_HIT,
    representation.EVENT,
    representation.CLEANUP,
]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda shape: shape.name)
def test_the_schema_of_a_shape_has_its_fields_and_only_them(shape):
    fields = output(shape)().get_fields()
    assert list(fields) == list(shape.fields)
    for name, field in shape.fields.items():
        assert fields[name].allow_null == field.null, name
        assert fields[name].required == (field.present is None), name


def test_the_api_serializers_answer_with_their_shapes():
    assert s.JobOutput.shape is representation.JOB
    assert s.JobSummaryOutput.shape is representation.JOB_SUMMARY
    assert s.DocumentHitOutput.shape is representation.DOCUMENT_HIT
    assert s.EventOutput.shape is representation.EVENT


def conforms(kind, value) -> bool:
    if isinstance(kind, shapes.Shape):
        return isinstance(value, dict) and all(
            conforms(f.kind, value[n]) or (f.null and value[n] is None)
            for n, f in kind.fields.items()
            if n in value
        )
    if isinstance(kind, shapes.ListOf):
        return isinstance(value, list) and all(conforms(kind.item, v) for v in value)
    if isinstance(kind, shapes.Choice):
        return value in [c[0] if isinstance(c, tuple) else c for c in kind.values]
    checks = {
        shapes.STRING: lambda v: isinstance(v, str),
        shapes.INTEGER: lambda v: isinstance(v, int) and not isinstance(v, bool),
        shapes.NUMBER: lambda v: isinstance(v, int | float),
        shapes.BOOLEAN: lambda v: isinstance(v, bool),
        shapes.UUID: lambda v: isinstance(v, str) and uuid.UUID(v) is not None,
        shapes.DATETIME: lambda v: isinstance(v, str) and datetime.fromisoformat(v).tzinfo,
        shapes.OBJECT: lambda v: isinstance(v, dict),
    }
    return bool(checks[kind](value))


def test_a_job_answers_with_every_field_of_its_shape_in_its_kind(project, user):
    job = IngestJobFactory(project=project, status=JobStatus.CANCELLED, error="stopped")
    done = IngestFileFactory(job=job, position=0, status="done", chunks=2)
    IngestFileFactory(job=job, position=1, kind="zip", members=[{"name": "a.txt"}])
    document = DocumentFactory(project=project, job=job, source_file=done)
    DocumentSource.objects.create(document=document, file=done)

    answer = representation.job(job)

    assert list(answer) == list(representation.JOB.fields)
    assert conforms(representation.JOB, answer)
    done_entry, zip_entry = answer["result"]["files"]
    assert "members" not in done_entry and [m["name"] for m in zip_entry["members"]] == ["a.txt"]
    assert zip_entry["members_total"] == 1
    assert answer["result"]["partial"] is True  # the zip was not reached


def test_a_shape_reads_the_columns_its_fields_name():
    assert set(representation.DOCUMENT.reads) == {
        "id",
        "title",
        "sha256",
        "size",
        "chunk_count",
        "origin_job_id",
        "origin_file_name",
        "created_at",
    }
    # The list's rows load no per-file result, and so not its JSON column.
    assert "result" not in representation.JOB_SUMMARY.reads
    assert {"items_total", "bytes_done", "deleted_at"} <= set(representation.JOB_SUMMARY.reads)


def test_a_value_given_is_used_instead_of_the_fields_reader(project):
    job = IngestJobFactory(project=project)
    assert representation.JOB_SUMMARY(job, url="/here/")["url"] == "/here/"
    assert representation.JOB_SUMMARY(job)["url"].endswith(f"/{job.pk}/")
