"""Jobs in words for a terminal: summaries, per-file lines, tables, the audit trail.

Shared by the management commands and the remote client; like ``follow`` it
imports nothing from Django and works on jobs shaped as the HTTP API shows them.
"""

import os
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import TextIO

from tqdm import tqdm

# Yellow, as the dashboard's warning colour: a job whose files failed.
WARNING, RESET = "\033[33m", "\033[0m"


def colours(stream: TextIO) -> bool:
    """Whether what goes to ``stream`` is coloured: a terminal's, unless
    ``NO_COLOR`` is set (no-color.org) or the terminal is "dumb"."""
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):  # no such method, or a closed file
        return False
    return terminal and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def warned(job: dict) -> bool:
    """Whether the job's files failed in part, and the job is not deleted:
    what the dashboard shows in its warning colour."""
    return bool(job["progress"].get("files_failed")) and not job.get("deleted_at")


def warning(text: str, colour: bool) -> str:
    return f"{WARNING}{text}{RESET}" if colour else text


def write_lines(stream: TextIO, lines: Iterable[str]) -> None:
    for line in lines:
        stream.write(line + "\n")
    stream.flush()


def size_text(size: int) -> str:
    return f"{size}B" if size < 1024 else tqdm.format_sizeof(size, "B", 1024)


def files_text(progress: dict) -> str:
    """``10/12 files, 2 failed``: the files that made it, then those that did not."""
    failed = progress.get("files_failed") or 0
    text = f"{progress['files_done'] - failed}/{progress['files_total']} files"
    return f"{text}, {failed} failed" if failed else text


def progress_text(progress: dict) -> str:
    return (
        f"{files_text(progress)}, "
        f"{size_text(progress['bytes_done'])} of {size_text(progress['bytes_total'])} "
        f"({progress['percent']}%)"
    )


def status_text(job: dict) -> str:
    """The status, and for a deleted job (a delete sets it cancelled) what it was before."""
    if job.get("deleted_at") or job.get("status_before_delete"):
        return f"deleted (had {job.get('status_before_delete') or job['status']})"
    return job["status"]


def summary(job: dict, *, colour: bool = False) -> list[str]:
    """The per-file results, then one sentence on how the job ended."""
    result = job.get("result") or {"files": [], "documents_created": 0}
    return [*file_lines(result["files"]), warning(verdict(job), colour and warned(job))]


def file_lines(files: list[dict]) -> list[str]:
    width = min(max((len(f["name"]) for f in files), default=0), 60)
    lines = []
    for f in files:
        lines.append(f"  {_status_label(f['status']):<11} {f['name']:<{width}}  {_file_note(f)}")
        shown = f.get("members") or []
        for member in shown:
            note = _file_note(member)
            lines.append(f"      {_status_label(member['status']):<11} {member['name']}  {note}")
        if (more := f.get("members_total", len(shown)) - len(shown)) > 0:
            lines.append(f"      ... and {_plural(more, 'more member')}")
    return [line.rstrip() for line in lines]


def _status_label(status: str) -> str:
    return status.replace("_", " ")


def _file_note(f: dict) -> str:
    if f.get("error"):
        return f["error"]
    if f["status"] == "done":
        return _plural(f["chunks"], "chunk")
    if f["status"] == "duplicate":
        return "already in the project"
    if f["status"] == "reading" and f.get("bytes_read") is not None:
        return f"{size_text(f['bytes_read'])} of {size_text(f['size'])} read"
    return ""


def verdict(job: dict) -> str:
    name, status = job["name"], job["status"]
    result = job.get("result") or {"files": [], "documents_created": 0}
    counts = Counter(f["status"] for f in result["files"])
    documents = result["documents_created"]
    if status == "failed":
        return f"job {name!r} failed: {job.get('error') or 'no file could be ingested.'}"
    if status == "cancelled":
        kept = counts["done"] + counts["duplicate"] + counts["failed"]
        return (
            f"job {name!r} cancelled: kept {kept} of {len(result['files'])} files "
            f"({_plural(documents, 'document')} created); "
            f"{counts['not_reached']} not reached."
        )
    parts = [
        f"{counts[s]} {_status_label(s)}" for s in ("done", "duplicate", "failed") if counts[s]
    ]
    files = ", ".join(parts) or "no files"
    return f"job {name!r} {status}: {files}; {_plural(documents, 'document')} created."


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def detail(
    job: dict, events: list[dict], *, extra: Iterable[tuple[str, str]] = (), colour: bool = False
) -> list[str]:
    """A job in full: its fields, per-file results and audit trail; with
    ``colour``, the status and progress of a job whose files failed in yellow."""
    result = job.get("result") or {"files": [], "documents_created": 0, "partial": False}
    status = status_text(job) + (" (partial)" if result.get("partial") else "")
    fields = [
        ("status", status),
        ("progress", progress_text(job["progress"])),
        # What the job allows now (ingest.actions), the role permitting.
        ("actions", ", ".join(job.get("actions") or []) or "none"),
        ("chunking", f"{job['chunk_size']} characters, overlap {job['chunk_overlap']}"),
        *extra,
        ("created", when(job["created_at"])),
        ("started", when(job.get("started_at"))),
        ("finished", when(job.get("finished_at"))),
        ("cancel asked", when(job.get("cancel_requested_at"))),
        ("delete asked", when(job.get("delete_requested_at"))),
        ("error", job.get("error") or ""),
    ]
    lines = [f"job {job['id']} {job['name']!r}"]
    warn = colour and warned(job)
    lines += [
        f"  {label:<13}{warning(value, warn and label in ('status', 'progress'))}"
        for label, value in fields
        if value
    ]
    lines.append(
        f"files ({len(result['files'])}; {_plural(result['documents_created'], 'document')} created)"
    )
    lines += file_lines(result["files"])
    lines.append("audit trail")
    lines += [event_line(e) for e in events]
    return lines


def event_line(event: dict) -> str:
    move = f"{event.get('from') or ''} -> {event['to']}".strip()
    line = f"  {when(event['at'])}  {event['action']:<10} {move:<25} {event.get('actor') or '-'}"
    return f"{line}  {event['reason']}" if event.get("reason") else line


def table(jobs: list[dict], *, colour: bool = False) -> list[str]:
    """Jobs as a table: id, name, status, progress, created, finished; with
    ``colour``, the status and progress of a job whose files failed in yellow."""
    header = ("ID", "NAME", "STATUS", "PROGRESS", "CREATED", "FINISHED")
    rows = [header]
    for job in jobs:
        progress = job["progress"]
        rows.append(
            (
                str(job["id"]),
                shorten(job["name"], 40),
                status_text(job),
                f"{files_text(progress)} {progress['percent']}%",
                when(job["created_at"]),
                when(job.get("finished_at")) or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    # Coloured once padded, so that the escapes do not count as width.
    warn = [False, *(colour and warned(job) for job in jobs)]
    return [
        "  ".join(
            warning(cell.ljust(w), warns and i in (2, 3))
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row, warns in zip(rows, warn, strict=True)
    ]


def when(value) -> str:
    """An API timestamp in the local time of this machine, to the second."""
    if not value:
        return ""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
