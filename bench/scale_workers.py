"""Throughput of one batch of jobs with 1 and then 2 workers, and each worker's memory.

The same batch (``--jobs`` jobs of ``--files`` generated text files each) is
ingested twice against PostgreSQL and Redis, into a fresh project each time so
that deduplication does not make the second run cheaper: first by one real
``rqworker``, then by two. Throughput is the batch's megabytes and files over
the span from the first job's ``started_at`` to the last one's
``finished_at`` (the workers' own time; the batch is queued before the
workers start, together); the one-worker run is the baseline
for the speed-up. Peak resident memory (VmHWM) is read per worker and per work
horse while they run.

    .venv/bin/python -m bench.scale_workers [--jobs 12] [--files 4] [--file-mb 2]
"""

import argparse
import sys
import time

from bench import common

SPEEDUP_TARGET = 1.6


def write_batch(bench, *, jobs: int, files: int, file_mb: float, seed: int) -> list[list]:
    folder = bench.tmp / "batch"
    folder.mkdir()
    return [
        [
            common.write_text_file(
                folder / f"job{j:02d}-file{f:02d}.txt", size_mb=file_mb, seed=seed + j * files + f
            )
            for f in range(files)
        ]
        for j in range(jobs)
    ]


def run_batch(bench, *, user, batch: list[list], workers: int) -> dict:
    from ingest.models import IngestJob

    # The whole batch is queued first, then the workers start together: the
    # benchmark's own uploads do not compete with them for the two cores.
    project = common.new_project(user, f"scale {workers} workers")
    jobs = [common.create_job(project=project, user=user, paths=paths) for paths in batch]
    wall_started = time.perf_counter()
    started = common.start_workers(bench, workers, label=f"w{workers}")
    watchers = [common.MemoryWatcher(worker.pid, interval=0.05) for worker in started]
    for watcher in watchers:
        watcher.start()
    common.wait_for(
        lambda: all(common.job_status(job.pk) == "completed" for job in jobs),
        timeout=900,
        interval=0.05,
        message="the batch to complete",
    )
    wall = time.perf_counter() - wall_started
    for watcher in watchers:
        watcher.stop()
    for worker in started:
        bench.stop(worker)
    rows = IngestJob.all_objects.filter(pk__in=[job.pk for job in jobs])
    span = (max(r.finished_at for r in rows) - min(r.started_at for r in rows)).total_seconds()
    size_mb = sum(path.stat().st_size for paths in batch for path in paths) / common.MB
    files = sum(len(paths) for paths in batch)
    for job in jobs:
        common.remove_job_uploads(job)
    return {
        "workers": workers,
        "files": files,
        "size_mb": round(size_mb, 2),
        "span_seconds": round(span, 3),
        "wall_seconds": round(wall, 3),
        "mb_s": round(size_mb / span, 2),
        "files_s": round(files / span, 2),
        "per_worker": [memory_of(watcher) for watcher in watchers],
    }


def memory_of(watcher) -> dict:
    horses = watcher.horses().values()
    return {
        "worker_vmhwm_mb": round(watcher.root_peak_mb(), 1),
        "horse_vmhwm_mb": round(max((h["vmhwm_mb"] for h in horses), default=0), 1),
        "horses_seen": len(horses),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=12)
    parser.add_argument("--files", type=int, default=4, help="files per job")
    parser.add_argument("--file-mb", type=float, default=2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    bench = common.setup("scale_workers")
    try:
        print(f"# scale workers ({common.load_note()})")
        batch = write_batch(
            bench, jobs=args.jobs, files=args.files, file_mb=args.file_mb, seed=args.seed
        )
        user = common.bench_user()
        one = run_batch(bench, user=user, batch=batch, workers=1)
        two = run_batch(bench, user=user, batch=batch, workers=2)
        figures = {
            "batch": {"jobs": args.jobs, "files_per_job": args.files, "file_mb": args.file_mb},
            "one_worker": one,
            "two_workers": two,
            "speedup": round(two["mb_s"] / one["mb_s"], 3),
            "target_speedup": SPEEDUP_TARGET,
            "load_after": common.load_note(),
        }
        report(figures)
        print(f"results: {common.write_results('scale_workers', figures)}")
    finally:
        bench.close()
    return 0


def report(figures: dict) -> None:
    one, two = figures["one_worker"], figures["two_workers"]
    print(f"batch: {one['files']} files, {one['size_mb']:.1f} MB of text")
    print(f"  {'':10} {'MB/s':>8} {'files/s':>8} {'span s':>8} {'wall s':>8}  peak memory")
    for run in (one, two):
        memory = ", ".join(
            f"worker {m['worker_vmhwm_mb']:.0f} MB / horse {m['horse_vmhwm_mb']:.0f} MB"
            for m in run["per_worker"]
        )
        print(
            f"  {run['workers']} worker{'s' if run['workers'] > 1 else ' '} "
            f"{run['mb_s']:8.2f} {run['files_s']:8.2f} {run['span_seconds']:8.2f} "
            f"{run['wall_seconds']:8.2f}  {memory}"
        )
    verdict = "OK" if figures["speedup"] >= figures["target_speedup"] else "UNDER TARGET"
    print(f"  speed-up with 2 workers: {figures['speedup']:.2f}x (target >= 1.6x): {verdict}")
    print(f"  {figures['load_after']}")


if __name__ == "__main__":
    sys.exit(main())
