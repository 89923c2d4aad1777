"""The ingest pipeline in process: steps.ingest() with a real JobContext on a
RUNNING job, real files in storage, real PostgreSQL (no worker).

As in the worker, the context reads and writes the job row on the job-state
connection while the pipeline writes documents on "default": so the rows are
committed (transactional tests), and a checkpoint never queries the connection
that is in the middle of a file's COPY (which would block on PostgreSQL).
"""

import io
import itertools
import threading
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connections

from ingest.models import Chunk, Document, DocumentSource, FileStatus, IngestFile, IngestJob
from ingest.pipeline import steps, store
from ingest.pipeline.readers import detect_kind
from jobs.models import JobStatus as S
from jobs.runner import JobCancelled, JobContext, JobFailed
from tests.conftest import postgres_only
from tests.factories import IngestFileFactory, IngestJobFactory, ProjectFactory, member_results

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "jobstate"])

positions = itertools.count()


# --- building jobs and running them -------------------------------------------------


def running_job(**fields) -> IngestJob:
    return IngestJobFactory(status=S.RUNNING, **fields)


def add_file(job: IngestJob, name: str, content: bytes, **fields) -> IngestFile:
    fields.setdefault("kind", detect_kind(name, content[:4096]))
    return IngestFileFactory(
        job=job, name=name, content=content, position=next(positions), **fields
    )


def context_for(job: IngestJob, context_class=JobContext, **kwargs) -> JobContext:
    work_dir = Path(settings.INGEST_WORK_DIR) / str(job.pk)
    work_dir.mkdir(parents=True, exist_ok=True)
    # As the runner does: the context holds its own copy of the row, read on
    # the job-state connection.
    state_row = IngestJob.all_objects.using(settings.JOB_STATE_DB).get(pk=job.pk)
    return context_class(state_row, work_dir=work_dir, using=settings.JOB_STATE_DB, **kwargs)


@pytest.fixture(autouse=True)
def close_job_state_connection():
    yield
    # An open connection would keep the test database from being dropped.
    connections[settings.JOB_STATE_DB].close()


def run(job: IngestJob, ctx: JobContext | None = None) -> JobContext:
    ctx = ctx or context_for(job)
    steps.ingest(IngestJob.all_objects.get(pk=job.pk), ctx)
    return ctx


def fresh(row):
    return type(row).objects.get(pk=row.pk)


def document_of(ingest_file: IngestFile) -> Document:
    return DocumentSource.objects.get(file=ingest_file, member="").document


def document_text(document: Document) -> str:
    """The canonical text, rebuilt from the chunks and their offsets."""
    text = ""
    for chunk in document.chunks.order_by("index"):
        assert chunk.start <= len(text), "chunks leave a gap"
        text = text[: chunk.start] + chunk.text
        assert len(text) == chunk.end
    return text


def prose(words: int, seed: str = "") -> bytes:
    return " ".join(f"{seed}word{i}" for i in range(words)).encode()


def zip_of(members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return out.getvalue()


def patch_member(data: bytes, name: str, *, flag_bits: int = 0, method: int | None = None):
    """Rewrite a member's headers (local and central): set flag bits, change
    the compression method. How archives made elsewhere look."""
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(name)
    out = bytearray(data)
    central = out.index(b"PK\x01\x02")
    while out[central + 46 : central + 46 + len(name)] != name.encode():
        central = out.index(b"PK\x01\x02", central + 4)
    for flags_at, method_at in (
        (info.header_offset + 6, info.header_offset + 8),
        (central + 8, central + 10),
    ):
        flags = int.from_bytes(out[flags_at : flags_at + 2], "little") | flag_bits
        out[flags_at : flags_at + 2] = flags.to_bytes(2, "little")
        if method is not None:
            out[method_at : method_at + 2] = method.to_bytes(2, "little")
    return bytes(out)


class CancelWhen(JobContext):
    """A context whose checkpoint raises JobCancelled once ``when()`` is true
    (as the real one does once it reads CANCELLING)."""

    def __init__(self, *args, when, **kwargs):
        super().__init__(*args, **kwargs)
        self.when = when

    def checkpoint(self, *, force: bool = False) -> None:
        if self.when():
            raise JobCancelled()
        super().checkpoint(force=force)


class CancelAfter(JobContext):
    """A context whose checkpoint raises JobCancelled on call number ``calls``."""

    def __init__(self, *args, calls: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.limit = calls
        self.calls = 0

    def checkpoint(self, *, force: bool = False) -> None:
        self.calls += 1
        if self.calls >= self.limit:
            raise JobCancelled()
        super().checkpoint(force=force)


# --- files ingested --------------------------------------------------------------------


def test_text_file_becomes_a_document_with_its_chunks():
    job = running_job(chunk_size=50, chunk_overlap=10)
    content = b"Title  line\r\n\r\n\r\n" + prose(60)
    ingest_file = add_file(job, "notes.txt", content)

    run(job)

    ingest_file = fresh(ingest_file)
    assert ingest_file.status == FileStatus.DONE
    assert ingest_file.error == ""
    document = document_of(ingest_file)
    expected = "Title line\n\n" + prose(60).decode()
    assert document_text(document) == expected
    assert document.size == len(expected)
    assert document.chunk_count == document.chunks.count() == ingest_file.chunks
    assert document.chunk_count > 5
    assert (document.project_id, document.job_id, document.source_file_id) == (
        job.project_id,
        job.pk,
        ingest_file.pk,
    )
    assert document.title == "notes.txt"
    for chunk in document.chunks.all():
        assert len(chunk.text) <= 50
        assert chunk.text == expected[chunk.start : chunk.end]


def test_each_supported_kind_is_ingested():
    job = running_job()
    files = {
        "a.txt": b"plain text",
        "b.md": b"# Markdown\n\nbody",
        "c.html": b"<head><title>hidden</title></head><body><p>Visible html</p></body>",
        "d.csv": b"name,age\nada,36\n",
        "e.json": b'{"title": "json doc"}',
    }
    rows = {name: add_file(job, name, data) for name, data in files.items()}

    run(job)

    texts = {name: document_text(document_of(row)) for name, row in rows.items()}
    assert texts == {
        "a.txt": "plain text",
        "b.md": "# Markdown\n\nbody",
        "c.html": "Visible html",
        "d.csv": "name, age\nada, 36",
        "e.json": "title: json doc",
    }


def test_progress_counts_every_file_and_byte():
    job = running_job()
    a = add_file(job, "a.txt", prose(100, "a"))
    b = add_file(job, "b.txt", prose(50, "b"))

    run(job)

    row = IngestJob.all_objects.get(pk=job.pk)
    assert (row.items_total, row.items_done) == (2, 2)
    assert row.bytes_total == row.bytes_done == a.size + b.size
    assert row.percent == 100


def test_work_directory_is_left_empty():
    job = running_job()
    add_file(job, "a.txt", prose(10))
    add_file(job, "bundle.zip", zip_of({"m.txt": b"member"}))

    ctx = run(job)

    assert list(ctx.work_dir.iterdir()) == []


# --- deduplication ----------------------------------------------------------------------


def test_same_text_twice_in_a_job_is_a_duplicate_of_the_first_document():
    job = running_job()
    first = add_file(job, "first.txt", b"Same text.\n\nSecond paragraph.")
    # The same canonical text, with other white space.
    second = add_file(job, "second.txt", b"  Same   text.\r\n\r\n\r\nSecond paragraph.  \n")

    run(job)

    first, second = fresh(first), fresh(second)
    assert first.status == FileStatus.DONE
    assert second.status == FileStatus.DUPLICATE
    assert document_of(second) == document_of(first)
    assert second.chunks == first.chunks == document_of(first).chunk_count
    assert Document.objects.filter(project=job.project).count() == 1
    assert Document.objects.get().source_file == first


def test_same_text_in_a_later_job_of_the_project_is_a_duplicate():
    earlier = running_job()
    add_file(earlier, "a.txt", b"shared text")
    run(earlier)
    later = running_job(project=earlier.project)
    again = add_file(later, "b.txt", b"shared text")

    run(later)

    assert fresh(again).status == FileStatus.DUPLICATE
    assert document_of(again).job_id == earlier.pk
    assert Document.objects.count() == 1


def test_same_text_in_another_project_is_a_document_of_its_own():
    one = running_job(project=ProjectFactory())
    other = running_job(project=ProjectFactory())
    a = add_file(one, "a.txt", b"shared text")
    b = add_file(other, "b.txt", b"shared text")

    run(one)
    run(other)

    assert fresh(a).status == fresh(b).status == FileStatus.DONE
    assert document_of(a) != document_of(b)
    assert document_of(a).sha256 == document_of(b).sha256
    assert document_of(b).project_id == other.project_id


# --- failures -------------------------------------------------------------------------------


def test_a_failing_file_fails_only_itself():
    job = running_job()
    good = add_file(job, "good.txt", b"good text")
    broken_json = add_file(job, "broken.json", b'{"a": ')
    broken_pdf = add_file(job, "broken.pdf", b"%PDF-1.4 not really a pdf")
    empty = add_file(job, "empty.txt", b"   \n\n  ")
    after = add_file(job, "after.txt", b"after text")

    run(job)

    assert fresh(good).status == fresh(after).status == FileStatus.DONE
    for row, message in [
        (broken_json, "JSON"),
        (broken_pdf, "PDF"),
        (empty, "no text could be extracted"),
    ]:
        row = fresh(row)
        assert row.status == FileStatus.FAILED
        assert message in row.error
        assert not DocumentSource.objects.filter(file=row).exists()
    assert Document.objects.count() == 2


def test_file_missing_from_storage_fails_with_a_reason():
    job = running_job()
    gone = add_file(job, "gone.txt", b"will vanish")
    add_file(job, "kept.txt", b"kept")
    default_storage.delete(gone.storage_path)

    run(job)

    gone = fresh(gone)
    assert gone.status == FileStatus.FAILED
    assert "no longer in storage" in gone.error


def test_job_fails_when_every_file_failed():
    job = running_job()
    a = add_file(job, "a.json", b"{")
    b = add_file(job, "b.json", b"[")

    with pytest.raises(JobFailed, match="every file failed"):
        run(job)

    assert fresh(a).status == fresh(b).status == FileStatus.FAILED


# --- zip archives ------------------------------------------------------------------------


def members_by_name(ingest_file):
    return {m["name"]: m for m in member_results(ingest_file)}


def test_zip_members_become_documents_and_unsafe_ones_are_refused():
    job = running_job()
    inner = zip_of({"x.txt": b"inside"})
    bundle = add_file(
        job,
        "bundle.zip",
        zip_of(
            {
                "docs/a.md": b"# Alpha\n\ntext",
                "b.txt": b"bravo text",
                "../evil.txt": b"climbs out",
                "/etc/passwd.txt": b"absolute",
                "C:/windows.txt": b"drive letter",
                "nested.zip": inner,
                "docs/": b"",
                "image.png": b"\x89PNG\r\n\x1a\n\x00\x00",
            }
        ),
    )

    run(job)

    bundle = fresh(bundle)
    assert bundle.status == FileStatus.DONE
    members = members_by_name(bundle)
    assert set(members) == {
        "docs/a.md",
        "b.txt",
        "../evil.txt",
        "/etc/passwd.txt",
        "C:/windows.txt",
        "nested.zip",
        "image.png",
    }
    for name in ("docs/a.md", "b.txt"):
        assert members[name]["status"] == FileStatus.DONE
        document = Document.objects.get(pk=members[name]["document"])
        assert document.title == f"bundle.zip/{name}"
        assert DocumentSource.objects.filter(document=document, file=bundle, member=name).exists()
    assert document_text(Document.objects.get(pk=members["b.txt"]["document"])) == "bravo text"
    assert "'..'" in members["../evil.txt"]["error"]
    assert "absolute" in members["/etc/passwd.txt"]["error"]
    assert "absolute" in members["C:/windows.txt"]["error"]
    assert "zip inside a zip" in members["nested.zip"]["error"]
    assert "not supported" in members["image.png"]["error"]
    for name in ("../evil.txt", "/etc/passwd.txt", "C:/windows.txt", "nested.zip", "image.png"):
        assert members[name]["status"] == FileStatus.FAILED
        assert members[name]["document"] is None
    assert Document.objects.count() == 2
    assert bundle.chunks == sum(m["chunks"] for m in members.values())
    assert not Document.objects.filter(title__contains="inside").exists()
    # Nothing was written outside the work directory.
    assert not (Path(settings.INGEST_WORK_DIR).parent / "evil.txt").exists()


def test_zip_member_duplicating_a_file_points_at_its_document():
    job = running_job()
    plain = add_file(job, "plain.txt", b"the same words")
    bundle = add_file(job, "bundle.zip", zip_of({"copy.txt": b"the  same words\n"}))

    run(job)

    member = members_by_name(bundle)["copy.txt"]
    assert member["status"] == FileStatus.DUPLICATE
    assert member["document"] == str(document_of(plain).pk)


def test_zip_over_the_total_size_limit_is_refused_not_unpacked(settings):
    settings.INGEST_MAX_TOTAL_BYTES = 10_000
    job = running_job()
    # Compresses to a few hundred bytes, declares 20 000 expanded.
    bomb = zip_of({"a.txt": b"a " * 5_000, "b.txt": b"b " * 5_000}, zipfile.ZIP_DEFLATED)
    assert len(bomb) < 1_000
    bundle = add_file(job, "bomb.zip", bomb)
    add_file(job, "ok.txt", b"fine")

    ctx = run(job)

    bundle = fresh(bundle)
    assert bundle.status == FileStatus.FAILED
    assert "not unpacked" in bundle.error
    assert "20000" in bundle.error
    assert member_results(bundle) == []
    assert not DocumentSource.objects.filter(file=bundle).exists()
    assert list(ctx.work_dir.iterdir()) == []


def test_zip_member_larger_than_it_declares_is_refused(settings):
    settings.INGEST_MAX_FILE_BYTES = 1_000_000
    job = running_job()
    data = zip_of({"liar.txt": b"x " * 50_000, "ok.txt": b"honest"}, zipfile.ZIP_DEFLATED)
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo("liar.txt")
    # Make both headers claim 10 bytes expanded.
    out = bytearray(data)
    declared = info.file_size.to_bytes(4, "little")
    for at in [info.header_offset + 22, out.index(b"PK\x01\x02") + 24]:
        assert out[at : at + 4] == declared
        out[at : at + 4] = (10).to_bytes(4, "little")
    bundle = add_file(job, "liar.zip", bytes(out))

    run(job)

    members = members_by_name(bundle)
    assert members["liar.txt"]["status"] == FileStatus.FAILED
    assert members["ok.txt"]["status"] == FileStatus.DONE
    assert fresh(bundle).status == FileStatus.DONE


@pytest.mark.parametrize(
    ("patch", "reason"),
    [
        ({"flag_bits": 0x1}, "encrypted"),
        ({"method": 9}, "compression"),  # deflate64: zipfile cannot read it
    ],
    ids=["encrypted member", "unsupported compression"],
)
def test_zip_member_that_cannot_be_unpacked_fails_only_itself(patch, reason):
    job = running_job()
    data = patch_member(
        zip_of({"locked.txt": b"secret", "open.txt": b"open"}), "locked.txt", **patch
    )
    bundle = add_file(job, "bundle.zip", data)
    after = add_file(job, "after.txt", b"after")

    run(job)

    members = members_by_name(bundle)
    assert members["locked.txt"]["status"] == FileStatus.FAILED
    assert reason in members["locked.txt"]["error"]
    assert members["open.txt"]["status"] == FileStatus.DONE
    assert fresh(bundle).status == FileStatus.DONE
    assert fresh(after).status == FileStatus.DONE


def test_zip_member_with_corrupt_data_fails_only_itself():
    job = running_job()
    data = bytearray(zip_of({"bad.txt": prose(400), "good.txt": b"good"}, zipfile.ZIP_DEFLATED))
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("bad.txt")
    start = info.header_offset + 30 + len("bad.txt")
    data[start : start + 40] = b"\xff" * 40
    bundle = add_file(job, "bundle.zip", bytes(data))

    run(job)

    members = members_by_name(bundle)
    assert members["bad.txt"]["status"] == FileStatus.FAILED
    assert members["good.txt"]["status"] == FileStatus.DONE


def test_damaged_zip_fails_only_itself():
    job = running_job()
    bundle = add_file(job, "broken.zip", b"PK\x03\x04" + b"\x00" * 40)
    ok = add_file(job, "ok.txt", b"fine")

    run(job)

    assert fresh(bundle).status == FileStatus.FAILED
    assert "damaged" in fresh(bundle).error
    assert fresh(ok).status == FileStatus.DONE


@pytest.mark.parametrize(
    ("members", "error"),
    [({}, "empty"), ({"../x.txt": b"x", "y.bin": b"\x00\x01"}, "no member")],
    ids=["empty", "no readable member"],
)
def test_zip_with_nothing_readable_fails(members, error):
    job = running_job()
    bundle = add_file(job, "bundle.zip", zip_of(members))
    add_file(job, "ok.txt", b"fine")

    run(job)

    assert fresh(bundle).status == FileStatus.FAILED
    assert error in fresh(bundle).error


# --- resuming -------------------------------------------------------------------------------


def test_resumed_job_skips_files_already_finished():
    job = running_job()
    done = add_file(job, "done.txt", b"already done earlier", status=FileStatus.DONE, chunks=3)
    failed = add_file(job, "failed.json", b"{", status=FileStatus.FAILED, error="earlier")
    pending = add_file(job, "pending.txt", b"still to do")

    run(job)

    assert (fresh(done).status, fresh(done).chunks) == (FileStatus.DONE, 3)
    assert (fresh(failed).status, fresh(failed).error) == (FileStatus.FAILED, "earlier")
    assert not DocumentSource.objects.filter(file__in=[done, failed]).exists()
    assert fresh(pending).status == FileStatus.DONE
    assert Document.objects.count() == 1
    row = IngestJob.all_objects.get(pk=job.pk)
    assert (row.items_total, row.items_done) == (3, 3)


def test_resumed_zip_skips_members_already_recorded():
    job = running_job()
    earlier = {"name": "a.txt", "status": "done", "document": None, "chunks": 2, "error": None}
    bundle = add_file(
        job, "bundle.zip", zip_of({"a.txt": b"alpha", "b.txt": b"bravo"}), members=[earlier]
    )

    run(job)

    bundle = fresh(bundle)
    assert [m["name"] for m in member_results(bundle)] == ["a.txt", "b.txt"]
    assert member_results(bundle)[0].items() >= earlier.items()
    assert bundle.status == FileStatus.DONE
    assert not Document.objects.filter(title="bundle.zip/a.txt").exists()
    assert Document.objects.filter(title="bundle.zip/b.txt").exists()


# --- cancel mid-way --------------------------------------------------------------------------


def many_chunks_file(job, name="big.txt"):
    # Over CHUNK_BATCH chunks, so the write transaction checkpoints inside.
    return add_file(job, name, prose(store.CHUNK_BATCH * 8, seed=name))


@pytest.fixture
def writing(monkeypatch) -> list[str]:
    """Titles of the documents whose chunks are being written, in order.

    The chunks of a file in progress exist only inside its open transaction,
    and (on PostgreSQL) inside a COPY that no other query may interrupt: so
    the write phase is told by the call, not by a query.
    """
    titles: list[str] = []
    write_chunks = store._write_chunks

    def recorded(document, *args):
        titles.append(document.title)
        return write_chunks(document, *args)

    monkeypatch.setattr(store, "_write_chunks", recorded)
    return titles


def test_cancel_inside_a_files_write_rolls_the_file_back(writing):
    job = running_job(chunk_size=50, chunk_overlap=0)
    first = add_file(job, "first.txt", b"finished before the cancel")
    big = many_chunks_file(job)
    last = add_file(job, "last.txt", b"never reached")

    ctx = context_for(job, CancelWhen, when=lambda: writing[-1:] == ["big.txt"])
    with pytest.raises(JobCancelled):
        run(job, ctx)

    assert fresh(first).status == FileStatus.DONE
    assert document_text(document_of(first)) == "finished before the cancel"
    assert fresh(big).status == FileStatus.PENDING
    assert fresh(big).chunks == 0
    assert not Document.objects.filter(source_file=big).exists()
    assert not Chunk.objects.filter(document__source_file=big).exists()
    assert not DocumentSource.objects.filter(file=big).exists()
    assert fresh(last).status == FileStatus.PENDING
    assert Document.objects.count() == 1
    assert list(ctx.work_dir.iterdir()) == []


def test_cancel_inside_a_zip_keeps_members_already_written(writing):
    job = running_job(chunk_size=50, chunk_overlap=0)
    big = prose(store.CHUNK_BATCH * 8, seed="member")
    bundle = add_file(job, "bundle.zip", zip_of({"a.txt": b"first member", "big.txt": big}))

    def big_member_written():
        return writing[-1:] == ["bundle.zip/big.txt"]

    with pytest.raises(JobCancelled):
        run(job, context_for(job, CancelWhen, when=big_member_written))

    bundle = fresh(bundle)
    assert bundle.status == FileStatus.PENDING
    assert [m["name"] for m in member_results(bundle)] == ["a.txt"]
    assert Document.objects.filter(title="bundle.zip/a.txt").exists()
    assert not Document.objects.filter(title="bundle.zip/big.txt").exists()

    # The next worker resumes with the member not yet written.
    run(job)

    bundle = fresh(bundle)
    assert bundle.status == FileStatus.DONE
    assert [m["name"] for m in member_results(bundle)] == ["a.txt", "big.txt"]
    assert Document.objects.filter(title="bundle.zip/a.txt").count() == 1
    assert Document.objects.get(title="bundle.zip/big.txt").chunk_count > store.CHUNK_BATCH


def count_checkpoints(job) -> int:
    ctx = context_for(job, CancelAfter, calls=10**9)
    run(job, ctx)
    return ctx.calls


def build_cancel_job(project):
    job = running_job(project=project, chunk_size=50, chunk_overlap=0)
    add_file(job, "a.txt", b"small first file")
    many_chunks_file(job, "b.txt")
    add_file(job, "c.zip", zip_of({"c1.txt": b"member one", "c2.txt": b"member two"}))
    add_file(job, "d.txt", b"small last file")
    return job


def test_cancel_at_any_checkpoint_leaves_only_whole_files():
    """Whatever checkpoint the cancel is seen at, each file (and zip member) is
    either completely written, with its result, or not at all."""
    total = count_checkpoints(build_cancel_job(ProjectFactory()))
    assert total > 8

    for calls in range(1, total + 1):
        job = build_cancel_job(ProjectFactory())
        with pytest.raises(JobCancelled):
            run(job, context_for(job, CancelAfter, calls=calls))
        for ingest_file in job.files.all():
            sources = DocumentSource.objects.filter(file=ingest_file)
            if ingest_file.status == FileStatus.PENDING:
                # A zip may keep members written whole; a plain file nothing.
                assert {s.member for s in sources} == {
                    m["name"] for m in member_results(ingest_file)
                }
            else:
                assert ingest_file.status == FileStatus.DONE
                assert sources.exists()
            for source in sources:
                document = source.document
                assert document.chunks.count() == document.chunk_count > 0
                assert document_text(document)


def test_a_json_file_with_a_lone_surrogate_fails_nothing():
    job = running_job()
    before = add_file(job, "a.txt", b"first file")
    odd = add_file(job, "odd.json", b'{"a": "\\ud800 x"}')
    after = add_file(job, "c.txt", b"last file")

    run(job)

    assert [fresh(f).status for f in (before, odd, after)] == [FileStatus.DONE] * 3
    # The JSON parser (ijson's yajl) already replaces the lone surrogate.
    assert document_text(document_of(odd)) in ("a: \ufffd x", "a: ? x")


def delete_in_another_connection(document_id):
    # A cleanup of another job, committed on a connection of its own.
    thread = threading.Thread(
        target=lambda: (Document.objects.filter(pk=document_id).delete(), connections.close_all())
    )
    thread.start()
    thread.join(10)


@postgres_only
def test_a_document_removed_while_being_reused_is_written_afresh(monkeypatch):
    earlier = running_job()
    add_file(earlier, "a.txt", b"the same text")
    run(earlier)
    reused = Document.objects.get(job=earlier)
    job = running_job(project=earlier.project)
    again = add_file(job, "again.txt", b"the same text")
    write_or_reuse = store._write_or_reuse
    calls = []

    def reuse_then_lose_it(*args, **kwargs):
        written = write_or_reuse(*args, **kwargs)
        calls.append(written.status)
        if len(calls) == 1:
            delete_in_another_connection(written.document.pk)
        return written

    monkeypatch.setattr(store, "_write_or_reuse", reuse_then_lose_it)
    run(job)

    assert calls == [FileStatus.DUPLICATE, FileStatus.DONE]
    assert fresh(again).status == FileStatus.DONE
    assert document_text(document_of(again)) == "the same text"
    assert not Document.objects.filter(pk=reused.pk).exists()
