"""The soak's invariants, checked on the database and the disk once the system
settled. Each returns its counts and the breaches it found (empty when it holds)."""

import itertools
from collections import Counter
from pathlib import Path

FINISHED_FILE = {"done", "duplicate", "failed"}


def all_jobs(job_ids):
    from ingest.models import IngestJob

    return list(IngestJob.all_objects.filter(pk__in=job_ids).prefetch_related("files"))


def every_job_terminal(jobs) -> tuple[dict, list]:
    statuses = Counter(job.status for job in jobs)
    deleted = sum(1 for job in jobs if job.deleted_at)
    breaches = [f"{job.pk} is {job.status}" for job in jobs if not job.is_terminal]
    return {**statuses, "deleted": deleted}, breaches


def no_work_directory_left(work_dir: Path) -> tuple[dict, list]:
    left = sorted(p.name for p in work_dir.iterdir()) if work_dir.is_dir() else []
    return {"work_dirs_left": len(left)}, [f"work directory {name} left" for name in left]


def every_document_has_a_source(project_ids) -> tuple[dict, list]:
    from ingest.models import Document

    documents = Document.objects.filter(project_id__in=project_ids)
    orphans = list(documents.filter(sources__isnull=True).values_list("pk", flat=True))
    return {"documents": documents.count()}, [f"document {pk} has no source" for pk in orphans]


def no_pair_written_twice(job_ids) -> tuple[dict, list]:
    from django.db.models import Count

    from ingest.models import DocumentSource

    sources = DocumentSource.objects.filter(file__job_id__in=job_ids)
    twice = sources.values("file_id", "member").annotate(n=Count("id")).filter(n__gt=1)
    breaches = [
        f"file {row['file_id']} {row['member']!r} written {row['n']} times" for row in twice
    ]
    return {"document_sources": sources.count()}, breaches


def event_chains_valid(jobs) -> tuple[dict, list]:
    breaches = []
    events = 0
    for job in jobs:
        chain = [(e.action, e.from_status, e.to_status) for e in job.events.order_by("at", "id")]
        transitions = chain  # a cleanup's event goes from the state to itself
        events += len(chain)
        if not transitions or transitions[0] != ("create", "", "queued"):
            breaches.append(f"{job.pk} does not start with its creation: {chain}")
            continue
        for (_, _, before), (action, after, _) in itertools.pairwise(transitions):
            if after != before:
                breaches.append(f"{job.pk}: {action} from {after} after {before}: {chain}")
        if transitions[-1][2] != job.status:
            breaches.append(f"{job.pk} ends {transitions[-1][2]} but is {job.status}")
    return {"events": events}, breaches


def progress_matches_files(jobs) -> tuple[dict, list]:
    breaches = []
    for job in jobs:
        files = list(job.files.all())
        finished = [f for f in files if f.status in FINISHED_FILE]
        expected = (len(finished), sum(f.size for f in finished))
        if (job.items_done, job.bytes_done) != expected or job.items_total != len(files):
            breaches.append(
                f"{job.pk} ({job.status}) shows {job.items_done}/{job.items_total} files, "
                f"{job.bytes_done} bytes; its files say {expected[0]}/{len(files)}, {expected[1]}"
            )
        if job.status == "completed" and len(finished) != len(files):
            breaches.append(f"{job.pk} completed with files not reached")
    return {"files": sum(len(job.files.all()) for job in jobs)}, breaches


def cancelled_results_match(jobs, cleaned_documents: set[str]) -> tuple[dict, list]:
    """A cancelled job's recorded result names, per file, what its documents say."""
    breaches = []
    partial = never_started = 0
    for job in jobs:
        if job.status != "cancelled":
            continue
        partial += bool(job.result.get("partial"))
        live = job.build_result()["files"]
        if not job.result:  # cancelled before a worker took it: nothing recorded
            never_started += 1
            recorded = [{"status": f["status"]} for f in live]
        else:
            recorded = job.result.get("files", [])
        if len(recorded) != len(live):
            breaches.append(f"{job.pk} recorded {len(recorded)} files, has {len(live)}")
        for then, now in zip(recorded, live, strict=False):
            if then.get("status") != now["status"]:
                breaches.append(
                    f"{job.pk} {now['name']}: recorded {then.get('status')}, now {now['status']}"
                )
            written = now["status"] in ("done", "duplicate")
            if str(job.pk) not in cleaned_documents and written != (now["document"] is not None):
                breaches.append(
                    f"{job.pk} {now['name']} is {now['status']} with document {now['document']}"
                )
    cancelled = sum(1 for job in jobs if job.status == "cancelled")
    counts = {"cancelled": cancelled, "partial": partial, "before_start": never_started}
    return counts, breaches


def check_all(job_ids, project_ids, work_dir: Path, cleaned_documents: set[str]):
    jobs = all_jobs(job_ids)
    return {
        "every job terminal": every_job_terminal(jobs),
        "no work directory left": no_work_directory_left(work_dir),
        "every document has a source": every_document_has_a_source(project_ids),
        "no (file, member) pair written twice": no_pair_written_twice(job_ids),
        "event chains valid": event_chains_valid(jobs),
        "progress equal to the per-file results": progress_matches_files(jobs),
        "cancelled results match their documents": cancelled_results_match(jobs, cleaned_documents),
    }
