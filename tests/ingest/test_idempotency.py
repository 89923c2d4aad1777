"""Idempotency-Key on POST .../jobs/: at most 255 characters; the same key with
the same request returns the first job (200); the same key with other files
or parameters is refused (422), compared by names, sizes, content and
parameters, never by the key alone."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ingest.models import IdempotencyKey, IngestJob
from tests.ingest.test_api import assert_error, post_job, stored_files

pytestmark = pytest.mark.django_db

CONTENT = b"Quarterly ledger, harbour accounts.\n"


def upload(name="ledger.txt", content=CONTENT):
    return SimpleUploadedFile(name, content)


def test_a_key_over_255_characters_is_refused_and_stores_nothing(api, project, settings):
    response = post_job(api, project, [upload()], headers={"Idempotency-Key": "k" * 256})
    body = assert_error(response, 400, "invalid")
    assert "Idempotency-Key" in body["detail"] and "255" in body["detail"]
    assert not IngestJob.all_objects.exists() and not IdempotencyKey.objects.exists()
    assert stored_files(settings) == []


def test_keys_sharing_their_first_255_characters_are_not_the_same_key(api, project):
    # Once these were cut to 255 characters and the second upload was dropped.
    shared = "x" * 255
    first = post_job(api, project, [upload()], headers={"Idempotency-Key": shared})
    assert first.status_code == 201
    longer = post_job(
        api, project, [upload("b.txt", b"other")], headers={"Idempotency-Key": shared + "y"}
    )
    assert_error(longer, 400, "invalid")
    assert IngestJob.objects.count() == 1


def test_a_key_of_255_characters_repeats_the_first_job(api, project):
    headers = {"Idempotency-Key": "k" * 255}
    first = post_job(api, project, [upload()], headers=headers, chunk_size=200, name="ledgers")
    again = post_job(api, project, [upload()], headers=headers, chunk_size=200, name="ledgers")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]


@pytest.mark.parametrize(
    ("files", "fields", "differs"),
    [
        ([upload("ledger.txt", b"Quarterly ledger, harbour accounts!\n")], {}, "files"),
        ([upload("renamed.txt")], {}, "files"),
        ([upload(), upload("second.txt", b"another file")], {}, "files"),
        ([upload()], {"chunk_size": 300}, "chunk_size"),
        ([upload()], {"chunk_overlap": 10}, "chunk_overlap"),
        ([upload()], {"name": "another name"}, "name"),
    ],
    ids=[
        "same name and size, other content",
        "other name",
        "one more file",
        "chunk size",
        "overlap",
        "name",
    ],
)
def test_a_key_reused_with_another_request_is_422(api, project, settings, files, fields, differs):
    headers = {"Idempotency-Key": "nightly-upload"}
    first = post_job(api, project, [upload()], headers=headers)
    assert first.status_code == 201
    stored = stored_files(settings)

    response = post_job(api, project, files, headers=headers, **fields)

    body = assert_error(response, 422, "idempotency_mismatch")
    assert differs in body["detail"]
    assert first.json()["id"] not in response.content.decode()
    assert IngestJob.all_objects.count() == 1
    assert stored_files(settings) == stored


def test_the_schema_documents_the_new_answers(api):
    schema = api.get("/api/schema/?format=json").json()
    create = schema["paths"][jobs_url_template(schema)]["post"]
    assert {"200", "201", "400", "422"} <= set(create["responses"])
    header = next(p for p in create["parameters"] if p["name"] == "Idempotency-Key")
    assert header["schema"]["maxLength"] == 255


def jobs_url_template(schema) -> str:
    return next(path for path in schema["paths"] if path.endswith("/ingest/jobs/"))
