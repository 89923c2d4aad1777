"""The data of ``bench.api_latency``: jobs made by PostgreSQL itself
(``INSERT ... SELECT ... FROM generate_series``), a share of them deleted, and
the jobs each write request consumes. Kept apart so that each module reads
top to bottom."""

import time

from bench import common

INSERT_JOBS = (
    """
INSERT INTO ingest_ingestjob (
"""
    + common.JOB_COLUMNS
    + """)
SELECT gen_random_uuid(), %(project)s, 'job ' || g, s.status, 1, %(user)s,
    now() - g * interval '1 second',
    CASE WHEN s.status = 'queued' THEN NULL ELSE now() - g * interval '1 second' END,
    CASE WHEN s.status IN ('completed', 'cancelled') THEN now() END,
    CASE WHEN s.deleted THEN now() - interval '1 day' END,
    '', 3, 0, 0, 3000, 0, '', '{}', 1000, 100,
    CASE WHEN s.deleted THEN 'completed' ELSE '' END
FROM generate_series(%(start)s::int, %(stop)s::int) AS g,
LATERAL (SELECT g %% %(every)s::int <> 0 AS deleted) AS d,
LATERAL (SELECT CASE
    WHEN d.deleted THEN 'cancelled'
    WHEN (g / %(every)s::int) %% 10 < 2 THEN 'queued'
    WHEN (g / %(every)s::int) %% 10 < 4 THEN 'running'
    ELSE 'completed' END AS status, d.deleted) AS s
"""
)

INSERT_FILES = """
INSERT INTO ingest_ingestfile (
    job_id, position, name, size, content_type, kind, sha256, storage_path, status,
    error, chunks, members_count, details)
SELECT j.id, p, 'file' || p || '.txt', 1000, 'text/plain', 'txt', repeat('0', 64),
    'jobs/bench/' || j.id || '/' || p, 'done', '', 3, 0, '{}'
FROM ingest_ingestjob AS j, generate_series(0, 2) AS p
WHERE j.id = ANY(%(ids)s)
"""


def insert_jobs(cursor, *, project, user, count: int, first: int = 1, every: int) -> None:
    """``count`` jobs, one in ``every`` alive (``every`` = 1: all deleted)."""
    cursor.execute(
        INSERT_JOBS,
        {
            "project": project.pk,
            "user": user.pk,
            "start": first,
            "stop": first + count - 1,
            "every": every,
        },
    )


def insert_deleted_only(cursor, *, project, user, count: int, first: int) -> None:
    # every > count: "g % every <> 0" holds for every g in range, so all deleted.
    insert_jobs(cursor, project=project, user=user, count=count, first=first, every=10**9)


def vacuum_analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE ingest_ingestjob")
        cursor.execute("VACUUM ANALYZE ingest_ingestfile")


def build(*, jobs: int, deleted_share: float, grow: int) -> dict:
    """The main project (``jobs`` rows, ``deleted_share`` deleted) and two small ones."""
    from django.db import connection
    from rest_framework.authtoken.models import Token

    user = common.bench_user("latency")
    token, _ = Token.objects.get_or_create(user=user)
    main = common.new_project(user, "latency main")
    grown = common.new_project(user, "latency grown")
    steady = common.new_project(user, "latency steady")
    every = round(1 / (1 - deleted_share))
    started = time.perf_counter()
    with connection.cursor() as cursor:
        insert_jobs(cursor, project=main, user=user, count=jobs, every=every)
        for project in (grown, steady):
            # 1,000 live among 10,000 deleted, older than the rows the growth adds.
            insert_jobs(cursor, project=project, user=user, count=11_000, first=grow + 1, every=11)
    vacuum_analyze()
    return {
        "user": user,
        "token": token.key,
        "main": main,
        "grown": grown,
        "steady": steady,
        "build_seconds": time.perf_counter() - started,
    }


def targets(project, *, status: str, count: int, with_files: bool = False) -> list[str]:
    from django.db import connection

    from ingest.models import IngestJob

    ids = list(
        IngestJob.objects.filter(project=project, status=status)
        .order_by("?")
        .values_list("pk", flat=True)[:count]
    )
    if len(ids) < count:
        raise SystemExit(f"only {len(ids)} {status} jobs for {count} requests: raise --jobs")
    if with_files:
        with connection.cursor() as cursor:
            cursor.execute(INSERT_FILES, {"ids": ids})
    return [str(pk) for pk in ids]


def enqueue(job_ids: list[str]) -> None:
    """Put queued jobs really in the RQ queue, as the API would have."""
    from ingest import services
    from ingest.models import IngestJob

    for job in IngestJob.objects.filter(pk__in=job_ids):
        services.job_enqueue(job=job)


def jobs_path(project, job_id: str = "", suffix: str = "") -> str:
    base = f"/api/projects/{project.pk}/ingest/jobs/"
    return f"{base}{job_id}/{suffix}" if job_id else base


# --- the run -----------------------------------------------------------------------------
