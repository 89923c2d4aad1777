"""The cost of checkpoints: the pipeline in-process, with and without them.

Each round creates a job through ``ingest.services.job_create`` (a project of
its own, so deduplication never short-cuts a round), moves it to RUNNING on
the "jobstate" alias, and runs ``ingest.pipeline.steps.ingest`` the way
``jobs.runner.run_job`` does (heartbeat thread, work directory, final
transition). Variant A gives it the real ``jobs.runner.JobContext`` with the
heartbeat thread as its watcher, as in the runner (its checkpoints use the
heartbeat's reading of the flag, and it watches the ``interruptible()``
parts); variant B a subclass whose ``checkpoint()`` does nothing, with no
watcher. Rounds alternate A B, B A, ... so drift on a shared machine hits both. Target: A's throughput over B's
(the median of the per-round ratios) >= 0.97. On a shared machine the run-to-run
spread is often wider than 3 %, so the time spent inside the real
``checkpoint()`` is also measured directly in A: that share is the overhead
with no noise from the other runs.

    .venv/bin/python -m bench.checkpoint_overhead [--mb 20] [--rounds 6]
"""

import argparse
import gc
import os
import statistics
import sys
import time
from pathlib import Path

from bench import common

TARGET_RATIO = 0.97


def context_classes():
    from jobs.runner import JobContext

    class TimedJobContext(JobContext):
        """The real JobContext; the time spent inside ``checkpoint()`` is added up
        (two clock reads per call, well under a millisecond per run)."""

        watched = True
        seconds = 0.0
        calls = 0
        reads = 0
        # Wall time between one call's return and the next call: how long a
        # cancel can go unnoticed by the pipeline's own work, whatever its pace.
        gaps: list[float] = []
        last_return = None

        def checkpoint(self, *, force: bool = False) -> None:
            last_check = self._last_check
            started = time.perf_counter()
            cls = TimedJobContext
            if cls.last_return is not None:
                cls.gaps.append(started - cls.last_return)
            try:
                super().checkpoint(force=force)
            finally:
                cls.last_return = time.perf_counter()
                cls.seconds += cls.last_return - started
                cls.calls += 1
                cls.reads += self._last_check != last_check

    class NoCheckpointContext(JobContext):
        watched = False

        def checkpoint(self, *, force: bool = False) -> None:
            pass

    return TimedJobContext, NoCheckpointContext


def run_in_process(*, user, path: Path, context_class, label: str) -> dict:
    """One job through the pipeline in this process, as the runner would run it."""
    from django.conf import settings

    from ingest.models import IngestJob
    from ingest.pipeline.steps import ingest
    from ingest.services.queue import remove_from_queue
    from jobs import lifecycle
    from jobs.runner import HOSTNAME, Heartbeat, remove_work_dir, work_dir_for

    project = common.new_project(user, f"checkpoint {label}")
    job = common.create_job(project=project, user=user, paths=[path])
    remove_from_queue(job_id=str(job.pk))  # no worker here: this process runs it
    using = settings.JOB_STATE_DB
    job = IngestJob.all_objects.using(using).get(pk=job.pk)
    if not lifecycle.start(job, worker_host=HOSTNAME, using=using):
        raise RuntimeError(f"job {job.pk} could not start")
    work_dir = work_dir_for(job, settings.INGEST_WORK_DIR)
    work_dir.mkdir(parents=True, exist_ok=True)
    heartbeat = Heartbeat(job, using=using)
    heartbeat.start()
    # As the runner runs it: the real context with the heartbeat as its
    # watcher; the no-op variant without one.
    watcher = heartbeat if context_class.watched else None
    context = context_class(job, work_dir=work_dir, using=using, watcher=watcher)
    # The stored upload's dirty pages would otherwise be written back during
    # the timed run, and land on one variant more than the other.
    os.sync()
    gc.collect()
    try:
        started = time.perf_counter()
        ingest(IngestJob.all_objects.using("default").get(pk=job.pk), context)
        seconds = time.perf_counter() - started
        context.progress(force=True)
        lifecycle.complete(job, result=job.build_result(), using=using)
    finally:
        heartbeat.stop()
        remove_work_dir(work_dir)
    if job.status != "completed":
        raise RuntimeError(f"job {job.pk} ended {job.status}")
    common.remove_job_uploads(job)
    size_mb = path.stat().st_size / common.MB
    return {"label": label, "seconds": round(seconds, 4), "mb_s": round(size_mb / seconds, 3)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=20, help="size of the text upload")
    parser.add_argument("--rounds", type=int, default=6, help="rounds of one A and one B")
    parser.add_argument("--seed", type=int, default=20240602)
    args = parser.parse_args(argv)

    bench = common.setup("checkpoint_overhead")
    try:
        print(f"# checkpoint overhead ({common.load_note()})")
        path = common.write_text_file(bench.tmp / "upload.txt", size_mb=args.mb, seed=args.seed)
        user = common.bench_user()
        variants = dict(zip(("A real", "B no-op"), context_classes(), strict=True))
        # One unmeasured warm-up each, so imports and first connections cost neither side.
        for name, cls in variants.items():
            run_in_process(user=user, path=path, context_class=cls, label=f"warm-up {name}")
        runs = [
            run_variant(user, path, variants, name, number)
            for number, name in schedule(args.rounds)
        ]
        figures = summarize(runs, size_mb=path.stat().st_size / common.MB)
        report(figures)
        print(f"results: {common.write_results('checkpoint_overhead', figures)}")
    finally:
        bench.close()
    return 0


def schedule(rounds: int) -> list[tuple[int, str]]:
    """A B, B A, A B, ...: each variant goes first as often as the other, so a
    steady drift (a table growing, a machine warming up) favours neither."""
    order = []
    for number in range(1, rounds + 1):
        pair = ["A real", "B no-op"] if number % 2 else ["B no-op", "A real"]
        order.extend((number, name) for name in pair)
    return order


def run_variant(user, path, variants, name, number) -> dict:
    timed = variants["A real"]
    timed.seconds, timed.calls, timed.reads = 0.0, 0, 0
    timed.gaps, timed.last_return = [], None
    run = run_in_process(user=user, path=path, context_class=variants[name], label=name)
    run["round"] = number
    if name == "A real":
        run.update(
            checkpoint_seconds=round(timed.seconds, 4),
            checkpoint_calls=timed.calls,
            status_reads=timed.reads,
            gap_p99_ms=round(1000 * common.percentiles(timed.gaps, 99)[0], 2),
            gap_max_ms=round(1000 * max(timed.gaps), 2),
        )
    print(f"  round {number} {name:8} {run['mb_s']:8.2f} MB/s {run['seconds']:8.3f} s")
    return run


def summarize(runs: list[dict], *, size_mb: float) -> dict:
    real = [r for r in runs if r["label"] == "A real"]
    noop = [r for r in runs if r["label"] == "B no-op"]
    real_mb_s = [r["mb_s"] for r in real]
    noop_mb_s = [r["mb_s"] for r in noop]
    pairs = [a / b for a, b in zip(real_mb_s, noop_mb_s, strict=True)]
    inside = sum(r["checkpoint_seconds"] for r in real) / sum(r["seconds"] for r in real)
    return {
        "size_mb": round(size_mb, 2),
        "runs": runs,
        "median_real_mb_s": round(statistics.median(real_mb_s), 3),
        "median_noop_mb_s": round(statistics.median(noop_mb_s), 3),
        "best_real_mb_s": max(real_mb_s),
        "best_noop_mb_s": max(noop_mb_s),
        "ratio_of_medians": round(statistics.median(real_mb_s) / statistics.median(noop_mb_s), 4),
        "ratio_of_best": round(max(real_mb_s) / max(noop_mb_s), 4),
        "median_paired_ratio": round(statistics.median(pairs), 4),
        "per_round_ratios": [round(p, 4) for p in pairs],
        "checkpoint_calls_per_run": real[0]["checkpoint_calls"],
        "status_reads_per_run": round(statistics.mean(r["status_reads"] for r in real), 1),
        "share_of_time_inside_checkpoint": round(inside, 5),
        "gap_between_checkpoints_p99_ms": statistics.median(r["gap_p99_ms"] for r in real),
        "gap_between_checkpoints_max_ms": max(r["gap_max_ms"] for r in real),
        "target_ratio": TARGET_RATIO,
        "load_after": common.load_note(),
    }


def report(f: dict) -> None:
    print(
        f"upload {f['size_mb']:.1f} MB text; per run with real checkpoints: "
        f"{f['checkpoint_calls_per_run']} checkpoint() calls, ~{f['status_reads_per_run']:.0f} status reads"
    )
    print(f"  {'':28} {'median MB/s':>12} {'best MB/s':>10}")
    print(f"  {'A real JobContext':28} {f['median_real_mb_s']:12.2f} {f['best_real_mb_s']:10.2f}")
    print(
        f"  {'B no-op checkpoint()':28} {f['median_noop_mb_s']:12.2f} {f['best_noop_mb_s']:10.2f}"
    )
    ratios = ", ".join(f"{r:.3f}" for r in f["per_round_ratios"])
    print(
        f"  ratio A/B: medians {f['ratio_of_medians']:.4f}, best {f['ratio_of_best']:.4f}, "
        f"median of per-round pairs {f['median_paired_ratio']:.4f}"
    )
    print(f"  per round: {ratios}")
    direct = 1 - f["share_of_time_inside_checkpoint"]
    print(
        f"  time inside checkpoint() in A: {100 * f['share_of_time_inside_checkpoint']:.3f}% "
        f"of the pipeline's time (implied ratio {direct:.4f})"
    )
    print(
        f"  wall time between checkpoint() calls in A: p99 {f['gap_between_checkpoints_p99_ms']:.2f} ms"
        f" (median over rounds), max {f['gap_between_checkpoints_max_ms']:.2f} ms"
    )
    verdict = "OK" if f["median_paired_ratio"] >= f["target_ratio"] else "BELOW TARGET"
    print(f"  target >= {f['target_ratio']} (median of pairs): {verdict}")
    print(f"  {f['load_after']}")


if __name__ == "__main__":
    sys.exit(main())
