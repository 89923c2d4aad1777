"""The data and the load the web-tier comparisons share (``bench.internals``,
``bench.peers``): one project of 40 finished jobs of 3 files each among
10,000 soft-deleted ones, 40 documents, a second project whose finished jobs
the DELETEs consume, and ``clients`` members, each with a token of their own.
Each endpoint's phase sends its requests from ``clients`` keep-alive
connections; throughput is requests over the phase's wall time.
"""

import random
from dataclasses import dataclass, field

from bench import common, web_tier
from bench.api_client import run_phase, summary

INSERT_JOBS = (
    """
INSERT INTO ingest_ingestjob (
"""
    + common.JOB_COLUMNS
    + """)
SELECT gen_random_uuid(), %(project)s, 'job ' || g, %(status)s, 3, %(user)s,
    now() - interval '1 day' - g * interval '1 second', now() - interval '1 day', now(),
    CASE WHEN %(deleted)s THEN now() ELSE NULL END,
    '', 0, 0, 0, 0, 0, '', '{}', 1000, 100,
    CASE WHEN %(deleted)s THEN 'completed' ELSE '' END
FROM generate_series(1, %(count)s::int) AS g
"""
)

# The endpoints every side serves, and what each answers when all is well.
ENDPOINTS = ("job detail", "job list", "delete", "healthz")
EXPECTED = {"delete": {204}}


@dataclass
class Data:
    project: object
    targets_project: object
    job_ids: list[str]
    tokens: list[str]
    delete_ids: list[str] = field(default_factory=list)

    def jobs_path(self, project=None) -> str:
        return f"/api/projects/{(project or self.project).pk}/ingest/jobs/"

    def makers(self, rng: random.Random) -> dict:
        """Each endpoint's next request: (method, path, body)."""
        return {
            "job detail": lambda: ("GET", f"{self.jobs_path()}{rng.choice(self.job_ids)}/", None),
            "job list": lambda: ("GET", self.jobs_path(), None),
            "delete": lambda: (
                "DELETE",
                f"{self.jobs_path(self.targets_project)}{self.delete_ids.pop()}/",
                None,
            ),
            "healthz": lambda: ("GET", "/healthz", None),
            "projects": lambda: ("GET", "/api/projects/", None),
            "documents": lambda: ("GET", f"/api/projects/{self.project.pk}/documents/", None),
        }


def build(*, clients: int, deleted: int = 10_000, delete_targets: int = 2_000) -> Data:
    """The shared data in the benchmark database (emptied by ``common.setup``)."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from rest_framework.authtoken.models import Token

    from ingest.models import IngestJob, Membership, Role

    owner = common.bench_user("peer-owner")
    project, job_ids = web_tier.build_small_project(user=owner, count=40)
    targets = common.new_project(owner, "peer delete targets")
    with connection.cursor() as cursor:
        for into, status, count, gone in [
            (project, "cancelled", deleted, True),
            (targets, "completed", delete_targets, False),
        ]:
            values = {"project": into.pk, "user": owner.pk, "status": status, "count": count}
            cursor.execute(INSERT_JOBS, {**values, "deleted": gone})
        web_tier.add_chunks(cursor, project=project, chunks=40 * web_tier.CHUNKS_PER_DOCUMENT)
        cursor.execute("VACUUM ANALYZE")
    tokens = []
    for n in range(clients):
        user, _ = get_user_model().objects.get_or_create(username=f"peer-member-{n}")
        for member_of in (project, targets):
            Membership.objects.get_or_create(project=member_of, user=user, role=Role.MEMBER)
        tokens.append(Token.objects.get_or_create(user=user)[0].key)
    delete_ids = list(
        IngestJob.objects.filter(project=targets).order_by("?").values_list("pk", flat=True)
    )
    return Data(
        project=project,
        targets_project=targets,
        job_ids=job_ids,
        tokens=tokens,
        delete_ids=[str(pk) for pk in delete_ids],
    )


def phase(data: Data, makers: dict, label: str, *, urls, clients: int, count: int):
    """``count`` requests of ``label`` from ``clients`` connections: (timings, seconds)."""
    requests = [(label, *makers[label]()) for _ in range(count)]
    timings, seconds = run_phase(urls=urls, token=data.tokens, requests=requests, clients=clients)
    return timings.get(label, []), seconds


def rounds(data, makers, label, sides: dict, *, clients: int, count: int, order: list[str]):
    """``label``'s phases on each side in ``order`` (e.g. A B B A, so that the
    machine's drift weighs on both alike), ``count // len(order) * sides``
    requests a phase; each side's summary with its throughput."""
    per_phase = max(clients, count // (len(order) // len(sides)))
    gathered = {side: ([], 0.0) for side in sides}
    for side in order:
        timings, seconds = phase(
            data, makers, label, urls=sides[side], clients=clients, count=per_phase
        )
        gathered[side] = (gathered[side][0] + timings, gathered[side][1] + seconds)
    return {
        side: summary(timings, EXPECTED.get(label, {200}), seconds)
        for side, (timings, seconds) in gathered.items()
    }
