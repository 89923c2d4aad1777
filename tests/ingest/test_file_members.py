"""A zip's members and a message's attachments: each one's result a row of
its own, so recording them costs the same per member however many came
before; at most INGEST_MAX_MEMBERS of them; a job's answer shows the first
few and the count, and the rest come a page at a time."""

import pytest
from django.db import connection
from rest_framework.test import APIClient

from ingest.models import FileMember, FileStatus, Role
from tests.factories import MembershipFactory, member_results
from tests.ingest.test_pipeline import add_file, fresh, run, running_job, zip_of

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "jobstate"])

MANY = 600


def many_members_zip(count: int) -> bytes:
    """A zip of ``count`` tiny members of a kind not read: each fails at once,
    with its reason recorded, as a real archive of images would."""
    return zip_of({f"scan-{n:05}.png": b"\x89PNG\r\n\x1a\n" for n in range(count)})


def table_bytes(name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_total_relation_size(%s)", [name])
        return cursor.fetchone()[0]


def test_recording_many_members_grows_the_files_table_by_nothing_per_member():
    job = running_job()
    bundle = add_file(job, "scans.zip", many_members_zip(MANY))
    add_file(job, "notes.txt", b"a file beside it")
    before = table_bytes("ingest_ingestfile") if connection.vendor == "postgresql" else 0

    run(job)

    bundle = fresh(bundle)
    assert bundle.members_count == MANY
    assert FileMember.objects.filter(file=bundle).count() == MANY
    assert [m["name"] for m in member_results(bundle)][:2] == ["scan-00000.png", "scan-00001.png"]
    assert bundle.status == FileStatus.FAILED  # no member could be read
    if connection.vendor == "postgresql":
        # Each member used to rewrite the file row's whole list of results:
        # 600 members left as many versions of an ever longer row (tens of MB).
        assert table_bytes("ingest_ingestfile") - before < 512 * 1024


def test_a_zip_over_the_member_limit_is_refused_whole_with_a_sentence(settings):
    settings.INGEST_MAX_MEMBERS = 100
    job = running_job()
    bundle = add_file(job, "scans.zip", many_members_zip(101))
    fine = add_file(job, "fine.txt", b"a file beside it")

    run(job)

    bundle = fresh(bundle)
    assert bundle.status == FileStatus.FAILED
    assert bundle.error == (
        "the zip holds 101 files, over the limit of 100 (INGEST_MAX_MEMBERS); "
        "split it into smaller ones."
    )
    assert bundle.members_count == 0
    assert fresh(fine).status == FileStatus.DONE


def test_the_answer_shows_the_first_members_and_pages_the_rest(settings):
    job = running_job()
    bundle = add_file(job, "scans.zip", many_members_zip(60))
    add_file(job, "notes.txt", b"a file beside it")
    run(job)
    member = MembershipFactory(project=job.project, role=Role.VIEWER).user
    api = APIClient()
    api.force_authenticate(member)
    url = f"/api/projects/{job.project_id}/ingest/jobs/{job.pk}/"

    entry, _ = api.get(url).json()["result"]["files"]
    first = api.get(f"{url}files/{bundle.position}/members/").json()
    third = api.get(f"{url}files/{bundle.position}/members/?page=3").json()

    assert entry["members_total"] == 60
    assert [m["name"] for m in entry["members"]] == [f"scan-{n:05}.png" for n in range(20)]
    assert first["count"] == 60 and len(first["results"]) == 25
    assert first["results"][0] == entry["members"][0]
    assert [m["name"] for m in third["results"]] == [f"scan-{n:05}.png" for n in range(50, 60)]
    assert third["results"][0]["status"] == "failed" and third["results"][0]["error"]
    for position in ("99", "-1", "x", "1e3", "0.5"):
        missing = api.get(f"{url}files/{position}/members/")
        assert (missing.status_code, missing.json()["code"]) == (404, "not_found"), position


def test_the_job_page_links_to_every_member_a_page_at_a_time(client):
    job = running_job()
    bundle = add_file(job, "scans.zip", many_members_zip(30))
    add_file(job, "notes.txt", b"a file beside it")
    run(job)
    viewer = MembershipFactory(project=job.project, role=Role.VIEWER).user
    client.force_login(viewer)
    page = f"/projects/{job.project_id}/jobs/{job.pk}/"
    members = f"{page}files/{bundle.position}/members/"

    shown = client.get(page).content.decode()
    second = client.get(f"{members}?page=2").content.decode()

    assert "scan-00019.png" in shown and "scan-00020.png" not in shown
    assert f'href="{members}">All 30 members of scans.zip</a>' in shown
    assert "scan-00025.png" in second and "scan-00024.png" not in second
    assert "Page 2 of 2 · 30 in all" in second
    assert client.get(f"{page}files/9999/members/").status_code == 404
