"""Files inside files, in the pipeline: a message's attachments, zip totals
across a job, and a cancel between a PDF's pages."""

from email.message import EmailMessage
from pathlib import Path

import pytest

from ingest.models import Document, DocumentSource, FileStatus
from jobs.runner import JobCancelled
from tests.factories import member_results
from tests.ingest.test_pipeline import (
    CancelAfter,
    CancelWhen,
    add_file,
    close_job_state_connection,  # noqa: F401 -- the fixture, used by every test here
    context_for,
    document_text,
    fresh,
    prose,
    run,
    running_job,
    zip_of,
)

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "jobstate"])

CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "pdf"


def message_with(*attachments: tuple[str, str, bytes]) -> bytes:
    message = EmailMessage()
    message["From"], message["To"] = "Zoë <zoe@example.org>", "ops@example.org"
    message["Subject"], message["Date"] = "Rapport — 報告", "Mon, 30 Nov 2026 09:00:00 +0000"
    message.set_content("Voici le rapport, déjà relu.\n")
    for name, content_type, payload in attachments:
        maintype, subtype = content_type.split("/")
        message.add_attachment(payload, maintype=maintype, subtype=subtype, filename=name)
    return message.as_bytes()


def test_a_message_and_its_attachments_become_documents_of_their_own():
    job = running_job()
    mail = add_file(
        job,
        "mail.eml",
        message_with(
            ("notes.txt", "text/plain", prose(40, "note")),
            ("data.json", "application/json", b'{"ville": "K\xc3\xb6ln"}'),
            ("logo.png", "image/png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
        ),
    )

    run(job)

    mail = fresh(mail)
    assert (mail.status, mail.kind) == (FileStatus.DONE, "eml")
    own = DocumentSource.objects.get(file=mail, member="").document
    assert "Rapport — 報告" in document_text(own)
    assert "déjà relu" in document_text(own)
    members = {m["name"]: m for m in member_results(mail)}
    assert members["notes.txt"]["status"] == FileStatus.DONE
    assert members["data.json"]["kind"] == "json"
    assert document_text(Document.objects.get(pk=members["data.json"]["document"])) == (
        "ville: Köln"
    )
    assert members["logo.png"]["status"] == "skipped"
    assert mail.chunks == sum(m["chunks"] for m in member_results(mail)) + own.chunk_count


def test_a_resumed_message_skips_attachments_already_written():
    job = running_job()
    mail = add_file(
        job,
        "mail.eml",
        message_with(
            ("one.txt", "text/plain", prose(30, "one")),
            ("two.txt", "text/plain", prose(30, "two")),
        ),
    )
    # Cancelled once the first attachment's document exists.
    ctx = context_for(job, CancelWhen, when=lambda: Document.objects.exists())
    with pytest.raises(JobCancelled):
        run(job, ctx)
    assert fresh(mail).status == FileStatus.PENDING
    assert [m["name"] for m in member_results(mail)] == ["one.txt"]

    run(job)

    mail = fresh(mail)
    assert mail.status == FileStatus.DONE
    assert [m["name"] for m in member_results(mail)] == ["one.txt", "two.txt"]
    assert DocumentSource.objects.filter(file=mail, member="one.txt").count() == 1


def test_zips_count_together_toward_the_job_total_and_a_resumed_job_remembers(settings):
    settings.INGEST_MAX_TOTAL_BYTES = 10_000
    job = running_job()
    first = add_file(job, "first.zip", zip_of({"a.txt": prose(900, "a")}))  # ~6 KB unpacked
    second = add_file(job, "second.zip", zip_of({"b.txt": prose(900, "b")}))
    small = add_file(job, "small.txt", b"a small text file")

    run(job)

    assert fresh(first).status == FileStatus.DONE
    assert fresh(first).details["expanded"] > 5000
    assert fresh(second).status == FileStatus.FAILED
    assert "INGEST_MAX_TOTAL_BYTES" in fresh(second).error
    assert "10000" in fresh(second).error
    assert fresh(small).status == FileStatus.DONE

    # A retry-like resume of the same job: the finished zip still counts.
    type(second).objects.filter(pk=second.pk).update(status=FileStatus.PENDING, error="")
    run(job)
    assert fresh(second).status == FileStatus.FAILED


def test_a_cancel_while_a_pdf_is_read_leaves_no_document():
    job = running_job()
    pdf = add_file(job, "four.pdf", (CORPUS / "pdflatex-4-pages.pdf").read_bytes())
    ctx = context_for(job, CancelAfter, calls=5)  # at the latest before its second page

    with pytest.raises(JobCancelled):
        run(job, ctx)

    assert fresh(pdf).status == FileStatus.PENDING
    assert not Document.objects.exists()


def test_a_pdf_records_its_page_count():
    job = running_job()
    pdf = add_file(job, "four.pdf", (CORPUS / "pdflatex-4-pages.pdf").read_bytes())

    run(job)

    assert fresh(pdf).status == FileStatus.DONE
    assert fresh(pdf).details == {"pages": 4}
