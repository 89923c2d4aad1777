"""A file that asks for more memory than INGEST_READ_MEMORY_MB fails alone,
with a sentence, through a real rqworker: the files around it are ingested
and the same worker goes on to the next job."""

import zlib
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ingest.models import Document
from tests.conftest import wait_for
from tests.e2e.helpers import create_job, finished, job_url, text_file

pytestmark = [pytest.mark.e2e]

REAL_PDF = Path(__file__).resolve().parent.parent / "corpus" / "pdf" / "pdflatex-4-pages.pdf"


def inflating_pdf(inflated_mb: int) -> bytes:
    """A one-page PDF of a few hundred KB whose content stream inflates to
    ``inflated_mb`` MB: a decompression bomb, as PDFium meets it."""
    squeeze = zlib.compressobj(1)
    block = b" " * (16 * 1024 * 1024)
    stream = b"".join(squeeze.compress(block) for _ in range(inflated_mb // 16)) + squeeze.flush()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(stream), stream),
    ]
    pdf, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(pdf))
        pdf += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(pdf)
    pdf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    pdf += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    pdf += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(pdf)


def test_a_file_past_the_memory_bound_fails_alone_and_the_worker_goes_on(
    api, project, start_worker
):
    bomb = SimpleUploadedFile("bomb.pdf", inflating_pdf(480))
    real = SimpleUploadedFile(REAL_PDF.name, REAL_PDF.read_bytes())
    first = create_job(api, project, [text_file("before.txt", 1, 3000), bomb, real])
    worker = start_worker(INGEST_READ_MEMORY_MB="200")

    job = wait_for(lambda: finished(first), timeout=120, message="the first job to finish")
    second = create_job(api, project, [text_file("after.txt", 2, 3000)])
    then = wait_for(lambda: finished(second), timeout=60, message="the next job to finish")

    assert job.status == "completed", (job.error, worker.output())
    files = {f["name"]: f for f in api.get(job_url(project, first)).json()["result"]["files"]}
    assert [files[n]["status"] for n in ("before.txt", "bomb.pdf", REAL_PDF.name)] == [
        "done",
        "failed",
        "done",
    ]
    assert "more than 200 MB of memory (INGEST_READ_MEMORY_MB)" in files["bomb.pdf"]["error"]
    assert Document.objects.filter(job_id=first).count() == 2
    assert then.status == "completed", worker.output()
    assert worker.proc.poll() is None  # the same worker, still running
