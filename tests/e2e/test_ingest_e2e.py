"""A real upload through the API, ingested by a real rqworker process."""

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ingest.models import Chunk, Document, IngestJob
from tests.conftest import wait_for

pytestmark = [pytest.mark.e2e]


def upload(name, content: bytes):
    return SimpleUploadedFile(name, content)


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def finished(job_id):
    job = IngestJob.all_objects.get(pk=job_id)
    return job if job.is_terminal else None


def test_mixed_upload_completes_with_per_file_results(api, project, start_worker, settings):
    files = [
        upload("notes.txt", b"First   note.\r\n\r\n\r\nSecond paragraph " + b"word " * 300),
        upload(
            "page.html",
            b"<html><head><title>t</title><script>var x=1;</script></head>"
            b"<body><p>Visible text</p><style>p{}</style></body></html>",
        ),
        upload("table.csv", b"name,age\nada,36\n"),
        upload("data.json", b'{"title": "json doc", "items": [1, 2]}'),
        upload("broken.pdf", b"%PDF-1.4 this is not really a pdf"),
        upload("bundle.zip", zip_of({"a.md": b"# Alpha\n\ntext", "../evil.txt": b"x"})),
        upload("again.txt", b"First note.\n\nSecond paragraph " + b"word " * 300),
    ]
    response = api.post(
        f"/api/projects/{project.pk}/ingest/jobs/",
        {"files": files, "chunk_size": 200, "chunk_overlap": 20},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    job_id = response.json()["id"]
    assert response["Location"].endswith(f"/ingest/jobs/{job_id}/")

    worker = start_worker()
    job = wait_for(lambda: finished(job_id), timeout=60, message="job to finish")
    assert job.status == "completed", worker.output()

    body = api.get(f"/api/projects/{project.pk}/ingest/jobs/{job_id}/").json()
    by_name = {f["name"]: f for f in body["result"]["files"]}
    assert by_name["notes.txt"]["status"] == "done"
    assert by_name["notes.txt"]["chunks"] > 1
    assert by_name["page.html"]["status"] == "done"
    assert by_name["table.csv"]["status"] == "done"
    assert by_name["data.json"]["status"] == "done"
    assert by_name["broken.pdf"]["status"] == "failed"
    assert "PDF" in by_name["broken.pdf"]["error"]
    assert by_name["again.txt"]["status"] == "duplicate"
    assert by_name["again.txt"]["document"] == by_name["notes.txt"]["document"]
    members = {m["name"]: m for m in by_name["bundle.zip"]["members"]}
    assert members["a.md"]["status"] == "done"
    assert members["../evil.txt"]["status"] == "failed"
    assert "'..'" in members["../evil.txt"]["error"]
    assert body["progress"] == {
        "files_total": 7,
        "files_done": 7,
        "files_failed": 1,
        "bytes_total": sum(f.size for f in files),
        "bytes_done": sum(f.size for f in files),
        "percent": 100,
    }
    assert body["result"]["documents_created"] == 5

    html = Document.objects.get(pk=by_name["page.html"]["document"])
    html_text = "".join(Chunk.objects.filter(document=html).values_list("text", flat=True))
    assert html_text == "Visible text"
    notes = Document.objects.get(pk=by_name["notes.txt"]["document"])
    assert notes.chunks.count() == notes.chunk_count == by_name["notes.txt"]["chunks"]
    assert notes.chunks.order_by("index").first().text.startswith("First note.\n\nSecond paragraph")
    assert not (settings.INGEST_WORK_DIR / job_id).exists()


def test_job_fails_when_every_file_fails(api, project, start_worker):
    response = api.post(
        f"/api/projects/{project.pk}/ingest/jobs/",
        {"files": [upload("a.pdf", b"%PDF-garbage"), upload("b.pdf", b"%PDF-more garbage")]},
        format="multipart",
    )
    job_id = response.json()["id"]
    start_worker()
    job = wait_for(lambda: finished(job_id), timeout=60, message="job to finish")
    assert job.status == "failed"
    assert job.error.startswith("every file failed")
