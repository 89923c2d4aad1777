"""Prepared queries answer exactly as their querysets do, on both databases."""

import os
import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Count, F, Value
from django.db.models.functions import Concat
from django.db.models.signals import post_init
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ingest.models import IngestFile, IngestJob, Membership
from ingest.prepared import PreparedQuery, Rows, set_prefetched
from tests.conftest import ROOT
from tests.factories import IngestFileFactory, IngestJobFactory, MembershipFactory

pytestmark = pytest.mark.django_db


def fields(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def files_of(job_id):
    return (
        IngestFile.objects.filter(job_id=job_id)
        .select_related("job__project")
        .annotate(label=Concat(F("name"), Value("!")))
    )


FILES = PreparedQuery(files_of, job_id=uuid.UUID)


def test_it_gives_what_the_queryset_gives_with_related_objects_annotations_and_converters():
    job = IngestJobFactory()
    IngestFileFactory(job=job, details={"pages": 3, "encoding": "utf-8"}, members_count=2)
    IngestFileFactory(job=job)
    IngestFileFactory()  # another job's

    expected, found = list(files_of(job.pk)), FILES(job_id=job.pk)

    assert [fields(f) for f in found] == [fields(f) for f in expected]
    assert found[0].details == {"pages": 3, "encoding": "utf-8"}  # JSON decoded
    assert found[0].members_count == 2
    assert isinstance(found[0].job.created_at, type(expected[0].job.created_at))
    assert [f.label for f in found] == [f.label for f in expected]
    with CaptureQueriesContext(connection) as queries:
        assert [f.job.project.name for f in found] == [job.project.name] * 2
    assert len(queries) == 0  # select_related objects came with the rows


def test_each_call_sends_its_own_values_and_takes_an_id_as_text():
    first, second = IngestFileFactory(), IngestFileFactory()

    assert [f.pk for f in FILES(job_id=first.job_id)] == [first.pk]
    assert [f.pk for f in FILES(job_id=str(second.job_id))] == [second.pk]
    assert FILES(job_id=uuid.uuid4()) == []


def test_it_compiles_once_and_makes_one_query_a_call():
    prepared = PreparedQuery(files_of, job_id=uuid.UUID)
    built = []
    prepared.build = lambda **values: built.append(values) or files_of(**values)
    file = IngestFileFactory()

    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            assert [f.pk for f in prepared(job_id=file.job_id)] == [file.pk]

    assert len(built) == 1
    assert len(queries) == 3


def test_first_and_several_parameters_of_several_kinds():
    membership = MembershipFactory()
    prepared = PreparedQuery(
        lambda user_id, project_id, role: Membership.objects.select_related("user").filter(
            user_id=user_id, project_id=project_id, role=role
        )[:1],
        user_id=int,
        project_id=uuid.UUID,
        role=str,
    )
    values = {"user_id": membership.user_id, "project_id": membership.project_id}

    assert prepared.first(**values, role=membership.role) == membership
    assert prepared.first(**values, role="nobody") is None


def test_what_it_cannot_prepare_is_refused_when_it_is_compiled():
    with pytest.raises(ImproperlyConfigured, match="kinds"):
        PreparedQuery(lambda when: IngestJob.objects.filter(created_at=when), when=float)
    contains = PreparedQuery(lambda name: IngestJob.objects.filter(name__contains=name), name=str)
    with pytest.raises(ImproperlyConfigured, match="not passed as itself"):
        contains(name="x")
    unused = PreparedQuery(lambda name: IngestJob.objects.all(), name=str)
    with pytest.raises(ImproperlyConfigured, match="does not use"):
        unused(name="x")
    prefetch = PreparedQuery(
        lambda job_id: IngestJob.objects.filter(pk=job_id).prefetch_related("files"),
        job_id=uuid.UUID,
    )
    with pytest.raises(ImproperlyConfigured, match="no prefetch"):
        prefetch(job_id=uuid.uuid4())
    with pytest.raises(TypeError, match="job_id"):
        FILES(job=uuid.uuid4())


def test_set_prefetched_serves_the_relation_without_a_query():
    file = IngestFileFactory()
    job = IngestJob.objects.get(pk=file.job_id)

    set_prefetched(job, "files", FILES(job_id=job.pk))

    with CaptureQueriesContext(connection) as queries:
        assert [f.pk for f in job.files.all()] == [file.pk]
        assert job.files.all()[0].job is job
    assert len(queries) == 0


def test_a_slice_is_a_query_of_its_own_compiled_once_and_only_so_many_are_kept(monkeypatch):
    job = IngestJobFactory()
    for _ in range(5):
        IngestFileFactory(job=job)
    ordered = PreparedQuery(lambda job_id: files_of(job_id).order_by("position"), job_id=uuid.UUID)
    everything = [f.pk for f in files_of(job.pk).order_by("position")]

    for start, stop in [(0, 2), (2, 4), (4, 6), (0, 2)]:
        assert [f.pk for f in ordered(job_id=job.pk, rows=slice(start, stop))] == (
            everything[start:stop]
        )
    assert ordered(job_id=job.pk, rows=slice(3, 3)) == []
    assert len(ordered._compiled) == 3

    monkeypatch.setattr("ingest.prepared.SLICES_KEPT", 2)
    ordered(job_id=job.pk, rows=slice(1, 3))
    assert [key[1:] for key in ordered._compiled] == [(0, 2), (1, 3)]  # the least used went


def test_rows_are_what_djangos_paginator_pages():
    job = IngestJobFactory()
    for _ in range(5):
        IngestFileFactory(job=job)
    ordered = PreparedQuery(lambda job_id: files_of(job_id).order_by("position"), job_id=uuid.UUID)
    pages = Rows(ordered, by="job", job_id=job.pk)
    everything = [f.pk for f in files_of(job.pk).order_by("position")]

    paginator = Paginator(pages, 2)

    assert paginator.count == 5 and paginator.num_pages == 3
    assert [[f.pk for f in paginator.page(n)] for n in (1, 2, 3)] == [
        everything[0:2],
        everything[2:4],
        everything[4:5],
    ]


def test_a_flat_values_list_of_one_column_gives_its_values():
    job = IngestJobFactory()
    for _ in range(3):
        IngestFileFactory(job=job)
    names = PreparedQuery(
        lambda job_id: IngestFile.objects.filter(job_id=job_id).values_list("name", flat=True),
        job_id=uuid.UUID,
    )
    counted = PreparedQuery(
        lambda job_id: (
            IngestFile.objects.filter(job_id=job_id)
            .order_by()
            .values("job")
            .annotate(n=Count("*"))
            .values_list("n", flat=True)
        ),
        job_id=uuid.UUID,
    )

    assert names(job_id=job.pk) == list(
        IngestFile.objects.filter(job=job).values_list("name", flat=True)
    )
    assert counted.first(job_id=job.pk) == 3
    assert counted.first(job_id=uuid.uuid4()) is None
    pairs = PreparedQuery(
        lambda job_id: IngestFile.objects.filter(job_id=job_id).values_list("name", "size"),
        job_id=uuid.UUID,
    )
    with pytest.raises(ImproperlyConfigured, match="model instances or one flat column"):
        pairs(job_id=job.pk)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's prepared statements")
def test_postgresql_parses_and_plans_a_statement_once_it_has_run_a_few_times():
    # The same SQL each call is what lets PostgreSQL keep one prepared
    # statement for it on the connection (DATABASE_PREPARE_THRESHOLD).
    threshold = connection.settings_dict["OPTIONS"]["prepare_threshold"]
    assert connection.settings_dict["OPTIONS"]["server_side_binding"] is True
    job = IngestFileFactory().job_id

    def prepared() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
                ["%ingest_ingestfile%"],
            )
            return cursor.fetchone()[0]

    before = prepared()
    for _ in range(threshold + 1):
        assert len(FILES(job_id=job)) == 1
    assert prepared() == before + 1


@pytest.mark.parametrize(("value", "threshold"), [(None, 5), ("2", 2), ("off", None)])
def test_the_prepare_threshold_is_read_from_the_environment(value, threshold):
    code = (
        "import django; from django.conf import settings; django.setup(); "
        "print(repr(settings.DATABASES['default']['OPTIONS'].get('prepare_threshold')))"
    )
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_PREPARE_THRESHOLD"}
    env |= {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/unused"}
    if value is not None:
        env["DATABASE_PREPARE_THRESHOLD"] = value
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == repr(threshold)


def test_rows_without_json_come_in_binary_on_postgresql_and_give_the_same_values():
    def jobs_of(project_id):
        return IngestJob.objects.filter(project_id=project_id).defer("result").order_by("name")

    def with_result(project_id):
        return IngestJob.objects.filter(project_id=project_id).order_by("name")

    job = IngestJobFactory(name="a", started_at=timezone.now(), items_total=3, bytes_done=2**40)
    IngestJobFactory(project=job.project, name="b", retry_of=job)
    rows = PreparedQuery(jobs_of, project_id=uuid.UUID)
    json_rows = PreparedQuery(with_result, project_id=uuid.UUID)

    found = rows(project_id=job.project_id)
    assert [fields(j) for j in found] == [fields(j) for j in jobs_of(job.project_id)]
    assert [fields(j) for j in json_rows(project_id=job.project_id)] == [
        fields(j) for j in with_result(job.project_id)
    ]
    assert found[0].started_at.utcoffset() == timedelta(0)
    on_postgresql = connection.vendor == "postgresql"
    assert rows._compiled_for("default", None).binary is on_postgresql
    assert json_rows._compiled_for("default", None).binary is False


def test_instances_are_what_from_db_builds_and_post_init_is_still_sent_when_listened_to():
    file = IngestFileFactory()
    found = FILES(job_id=file.job_id)[0]
    expected = files_of(file.job_id).get()
    assert found._state.adding is False and found._state.db == expected._state.db
    assert found.get_deferred_fields() == expected.get_deferred_fields() == set()
    found.name = "renamed"
    found.save(update_fields=["name"])  # an instance that saves as one read by Django
    assert IngestFile.objects.get(pk=file.pk).name == "renamed"

    deferred = PreparedQuery(
        lambda job_id: IngestFile.objects.filter(job_id=job_id).only("id", "job"), job_id=uuid.UUID
    )(job_id=file.job_id)[0]
    assert deferred.get_deferred_fields() == {
        f.attname for f in IngestFile._meta.concrete_fields if f.attname not in ("id", "job_id")
    }
    assert deferred.name == "renamed"  # loaded when read

    seen = []

    def listener(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(listener, sender=IngestFile)
    try:
        again = FILES(job_id=file.job_id)
    finally:
        post_init.disconnect(listener, sender=IngestFile)
    assert [i.pk for i in seen] == [f.pk for f in again] == [file.pk]
