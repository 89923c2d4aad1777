"""Files inside files: a zip's members and a message's attachments.

Each member is a document of its own, written in its own transaction with
its result recorded in that same transaction (a ``FileMember`` row), so a
resumed job skips the members it already wrote. What zips expand to counts
toward the job's INGEST_MAX_TOTAL_BYTES, all zips of the job together, and a
zip or a message holds at most INGEST_MAX_MEMBERS files.
"""

import lzma
import shutil
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q, Sum

from ingest.models import FileMember, FileStatus, IngestFile
from ingest.pipeline import office, readers, store
from ingest.pipeline.blocks import COPY_BYTES
from ingest.pipeline.reading import read_canonical
from jobs.runner import JobContext

# Kinds that are not read inside a zip or a message: their own members would
# be documents of documents.
NOT_NESTED = {"zip": "a zip inside a zip or a message is not unpacked."}
# A member's result's own columns; the rest of it (its kind, encoding...) is its details.
RESULT_KEYS = frozenset({"name", "status", "document", "chunks", "error"})


def unsafe_member_reason(name: str) -> str | None:
    posix = name.replace("\\", "/")
    if posix.startswith("/") or (len(posix) > 1 and posix[1] == ":"):
        return "absolute paths are not allowed in a zip"
    if ".." in PurePosixPath(posix).parts:
        return "'..' is not allowed in a zip member's path"
    return None


def expanded_so_far(files: list[IngestFile]) -> int:
    """What the job's files come to unpacked, before any zip not yet finished
    is opened: every other file's size, and what finished zips expanded to."""
    total = 0
    for ingest_file in files:
        if ingest_file.kind != "zip":
            total += ingest_file.size
        elif ingest_file.status != FileStatus.PENDING:
            total += ingest_file.details.get("expanded", 0)
    return total


def process_zip(job, ingest_file, local: Path, ctx: JobContext, progress) -> None:
    try:
        archive = zipfile.ZipFile(local)
    except zipfile.BadZipFile as exc:
        raise readers.ExtractionError(f"the zip archive is damaged ({exc}).") from exc
    with archive:
        infos = [info for info in archive.infolist() if not info.is_dir()]
        _check_count(len(infos), "zip holds")
        expanded = sum(info.file_size for info in infos)
        _check_total(expanded, progress.expanded)
        progress.expanded += expanded
        ingest_file.details = {**ingest_file.details, "expanded": expanded}
        done = recorded_names(ingest_file)
        for number, info in enumerate(infos):
            if info.filename in done:
                continue
            ctx.checkpoint(force=True)
            if reason := unsafe_member_reason(info.filename):
                outcome = _failed(info.filename, f"refused: {reason}.")
            else:
                outcome = process_member(
                    job, ingest_file, info.filename, lambda t, i=info: _unpack(archive, i, t), ctx
                )
            if outcome["status"] == FileStatus.FAILED:
                _record_member(ingest_file, outcome)  # written ones were recorded with their data
            share = ingest_file.size * (number + 1) // max(len(infos), 1)
            ctx.progress(bytes_done=progress.bytes_before + share)
    _finish_zip(ingest_file)


def recorded_names(ingest_file: IngestFile) -> set[str]:
    """The members already written or failed: a resumed job skips them."""
    return set(ingest_file.member_results.values_list("name", flat=True))


def chunks_of_members(ingest_file: IngestFile) -> int:
    return ingest_file.member_results.aggregate(chunks=Sum("chunks"))["chunks"] or 0


def _check_count(count: int, holds: str) -> None:
    limit = settings.INGEST_MAX_MEMBERS
    if count > limit:
        raise readers.ExtractionError(
            f"the {holds} {count} files, over the limit of {limit} (INGEST_MAX_MEMBERS); "
            "split it into smaller ones."
        )


def _check_total(expanded: int, before: int) -> None:
    limit = settings.INGEST_MAX_TOTAL_BYTES
    if expanded > limit:
        raise readers.ExtractionError(
            f"the zip expands to {expanded} bytes, over the limit of {limit} bytes for one "
            "job (INGEST_MAX_TOTAL_BYTES); it was not unpacked."
        )
    if before + expanded > limit:
        raise readers.ExtractionError(
            f"the zip expands to {expanded} bytes; with the job's files before it "
            f"({before} bytes unpacked) that passes the limit of {limit} bytes for one job "
            "(INGEST_MAX_TOTAL_BYTES), so it was not unpacked."
        )


def _finish_zip(ingest_file: IngestFile) -> None:
    counts = ingest_file.member_results.aggregate(
        members=Count("pk"),
        failed=Count("pk", filter=Q(status=FileStatus.FAILED)),
        chunks=Sum("chunks"),
    )
    if not counts["members"]:
        store.mark_file(ingest_file, status=FileStatus.FAILED, error="the zip archive is empty.")
    elif counts["failed"] == counts["members"]:
        store.mark_file(
            ingest_file, status=FileStatus.FAILED, error="no member of the zip could be read."
        )
    else:
        store.mark_file(ingest_file, status=FileStatus.DONE, chunks=counts["chunks"])


def process_attachments(job, ingest_file, local: Path, ctx: JobContext) -> None:
    """A message's attachments of supported kinds, each a document of its own,
    recorded among the file's members like a zip's. Attachments of kinds we do
    not read (images, signatures...) are listed as skipped, with the reason."""
    done = recorded_names(ingest_file)
    seen: dict[str, int] = {}
    attachments = []
    with local.open("rb") as raw:
        try:
            attachments.extend(office.eml_attachments(raw))
        except readers.ExtractionError as exc:
            # The message itself is still read; the attachments before the
            # undecodable one too. The failure is listed among the members.
            if "attachments" not in done:
                _record_member(ingest_file, _failed("attachments", str(exc)))
    _check_count(len(attachments), "message has")
    for attachment in attachments:
        name = _unique(attachment.name or "attachment", seen)
        if name in done:
            continue
        ctx.checkpoint(force=True)
        outcome = process_member(
            job,
            ingest_file,
            name,
            lambda target, a=attachment: _write_payload(a.payload, target),
            ctx,
            unsupported_status="skipped",
        )
        if outcome["status"] != FileStatus.DONE and outcome["status"] != FileStatus.DUPLICATE:
            _record_member(ingest_file, outcome)


def _write_payload(payload: bytes, target: Path) -> Path:
    target.write_bytes(payload)
    return target


def _unique(name: str, seen: dict[str, int]) -> str:
    seen[name] = seen.get(name, 0) + 1
    return name if seen[name] == 1 else f"{name} ({seen[name]})"


def process_member(
    job,
    ingest_file,
    name: str,
    unpack: Callable[[Path], Path],
    ctx,
    *,
    unsupported_status: str = FileStatus.FAILED,
) -> dict:
    """Unpack one member into the work directory, read it and write its document."""
    member_dir = ctx.work_dir / "member"
    member_dir.mkdir(exist_ok=True)
    try:
        local = unpack(member_dir / "source")
        try:
            with local.open("rb") as raw:
                kind = readers.detect_file_kind(name, raw)
        except readers.UnsupportedType as exc:
            return {**_failed(name, str(exc)), "status": unsupported_status}
        if kind in NOT_NESTED:
            raise readers.UnsupportedType(NOT_NESTED[kind])
        details: dict = {"kind": kind}
        canonical = read_canonical(
            kind,
            local,
            member_dir / "canonical.txt",
            ctx,
            info=details,
            on_read=lambda count: ctx.checkpoint(),
        )
        written = store.write_document(
            job,
            ingest_file,
            canonical,
            ctx,
            title=f"{ingest_file.name}/{name}",
            member=name,
            record=lambda w: _record_member(ingest_file, _member_result(name, w, details)),
        )
        return _member_result(name, written, details)
    except (readers.UnsupportedType, readers.ExtractionError, zipfile.BadZipFile) as exc:
        return _failed(name, str(exc))
    finally:
        shutil.rmtree(member_dir, ignore_errors=True)


def _unpack(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> Path:
    """Unpack one member; whatever makes it unreadable is that member's failure."""
    if info.flag_bits & 0x1:
        raise readers.ExtractionError("the member is encrypted; send it without a password.")
    # The header's size may lie: stop reading past it rather than trust it.
    limit = min(info.file_size, settings.INGEST_MAX_FILE_BYTES)
    written = 0
    try:
        with archive.open(info) as src, target.open("wb") as dst:
            while block := src.read(COPY_BYTES):
                written += len(block)
                if written > limit:
                    raise readers.ExtractionError(
                        "the member is larger than the zip says or allowed."
                    )
                dst.write(block)
    except NotImplementedError as exc:
        raise readers.ExtractionError(
            f"the member uses a compression method that cannot be read ({exc})."
        ) from exc
    except (zlib.error, lzma.LZMAError, EOFError) as exc:
        raise readers.ExtractionError(f"the member's data is damaged ({exc}).") from exc
    return target


def _failed(name: str, error: str) -> dict:
    return {
        "name": name,
        "status": FileStatus.FAILED,
        "document": None,
        "chunks": 0,
        "error": error,
    }


def _member_result(name: str, written, details: dict) -> dict:
    return {
        "name": name,
        "status": written.status,
        "document": str(written.document.pk),
        "chunks": written.chunks,
        "error": None,
        **details,
    }


def _record_member(ingest_file: IngestFile, outcome: dict) -> None:
    """One more member's result: a row, and the file's count, whatever came
    before; in one transaction (inside the document's, when it wrote one)."""
    with transaction.atomic():
        _insert_member(ingest_file, outcome)
        IngestFile.objects.filter(pk=ingest_file.pk).update(members_count=F("members_count") + 1)
    ingest_file.members_count += 1


def _insert_member(ingest_file: IngestFile, outcome: dict) -> None:
    FileMember.objects.create(
        file=ingest_file,
        position=ingest_file.members_count,
        name=outcome["name"],
        status=outcome["status"],
        document=outcome["document"],
        chunks=outcome["chunks"],
        error=outcome["error"] or "",
        details={key: value for key, value in outcome.items() if key not in RESULT_KEYS},
    )
