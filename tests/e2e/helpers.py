"""Building jobs for the end-to-end tests: real uploads through the API."""

import itertools
import random

from django.core.files.uploadedfile import SimpleUploadedFile

from ingest.models import IngestJob

VOCABULARY = [
    "ledger",
    "harbour",
    "quartz",
    "meadow",
    "lantern",
    "copper",
    "orbit",
    "saffron",
    "timber",
    "glacier",
    "anchor",
    "velvet",
    "summit",
    "cobalt",
    "falcon",
    "prairie",
    "ember",
    "lagoon",
    "marble",
    "thistle",
]


def prose(seed: int, size: int) -> bytes:
    """``size`` bytes of deterministic, unique text: paragraphs of words."""
    rng = random.Random(seed)
    words = rng.choices(VOCABULARY, k=size // 6 + 16)
    for i in range(12, len(words), 12):
        words[i] += "\n\n" if i % 96 == 0 else "."
    return f"seed {seed}. {' '.join(words)}".encode()[:size]


def text_file(name: str, seed: int, size: int) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, prose(seed, size), content_type="text/plain")


def create_job(api, project, files, **fields) -> str:
    fields = {"chunk_size": 50, "chunk_overlap": 0, **fields}
    response = api.post(
        f"/api/projects/{project.pk}/ingest/jobs/", {"files": files, **fields}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def job_url(project, job_id, suffix="") -> str:
    return f"/api/projects/{project.pk}/ingest/jobs/{job_id}/{suffix}"


def job_row(job_id) -> IngestJob:
    return IngestJob.all_objects.get(pk=job_id)


def finished(job_id):
    job = job_row(job_id)
    return job if job.is_terminal else None


def in_status(job_id, *statuses):
    job = job_row(job_id)
    return job if job.status in statuses else None


def event_chain(job) -> list[tuple[str, str, str]]:
    return [(e.action, e.from_status, e.to_status) for e in job.events.order_by("at", "id")]


def assert_valid_chain(job) -> None:
    """Each audited transition starts where the one before it ended."""
    chain = event_chain(job)
    assert chain[0] == ("create", "", "queued"), chain
    for (_, _, before), (_, after_from, _) in itertools.pairwise(chain):
        assert after_from == before, chain
    assert chain[-1][2] == job.status, chain
