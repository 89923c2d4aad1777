"""Pipeline throughput and worker memory, through the real service and a real rqworker.

A generated text upload (deterministic prose) becomes a job through
``ingest.services.job_create`` against PostgreSQL; a real ``manage.py rqworker
ingest`` ingests it. Throughput is reported from the job's ``started_at`` to
``finished_at`` (the worker's own time) and as wall time (from the create call
until the job is seen finished), next to the floor cost of touching the same
bytes: reading the file and hashing it with sha256, measured in the same run.
A second, larger upload measures the peak resident memory of the work horse
(VmHWM) and of its parent worker; the target is under 300 MB.

``--kinds`` also ingests the same prose as HTML, CSV and JSON (the kinds that
share the text path), each against the read + sha256 floor of its own file.

``--novel`` measures real prose instead, from upload until searchable, with
``--baseline DIR`` beside another commit's checkout (see ``bench.novel``).

    .venv/bin/python -m bench.pipeline_throughput [--mb 50] [--big-mb 100]
        [--kinds txt,html,csv,json]
    .venv/bin/python -m bench.pipeline_throughput --novel [--novel-mb 40]
        [--novel-rounds 1] [--baseline DIR]
"""

import argparse
import csv
import hashlib
import json
import sys
import time
from pathlib import Path

from bench import common

MEMORY_TARGET_MB = 300


def read_and_hash(path: Path, *, repeats: int = 3) -> float:
    """Seconds to read ``path`` in 1 MiB blocks and sha256 it: the best of
    ``repeats``, since one read on a loaded machine varies by several times."""
    best = float("inf")
    for _ in range(repeats):
        digest = hashlib.sha256()
        started = time.perf_counter()
        with path.open("rb") as source:
            while block := source.read(common.MB):
                digest.update(block)
        best = min(best, time.perf_counter() - started)
    return best


def write_kind(kind: str, prose: Path, target: Path) -> Path:
    """The prose of ``prose`` as an upload of ``kind``, about the same size."""
    paragraphs = prose.read_text(encoding="utf-8").split("\n\n")
    with target.open("w", encoding="utf-8", newline="") as out:
        if kind == "html":
            out.write("<!doctype html><html><head><title>Prose</title>")
            out.write("<style>p { margin: 0 }</style></head><body>\n")
            for number, paragraph in enumerate(paragraphs):
                tag = "h2" if number % 20 == 0 else "p"
                out.write(f"<{tag}>{paragraph.replace('&', '&amp;')}</{tag}>\n")
            out.write("<script>var hidden = 1;</script></body></html>\n")
        elif kind == "csv":
            rows = csv.writer(out)
            rows.writerow(["id", "line", "words", "text"])
            for number, line in enumerate(prose.read_text(encoding="utf-8").splitlines()):
                rows.writerow([number, f"line {number}", len(line.split()), line])
        elif kind == "json":
            records = [
                {"id": number, "title": paragraph[:40], "body": paragraph.split("\n")}
                for number, paragraph in enumerate(paragraphs)
            ]
            json.dump({"records": records}, out, ensure_ascii=False)
    return target


def measure_kinds(kinds: list[str], *, user, prose: Path) -> list[dict]:
    figures = []
    for kind in kinds:
        path = prose if kind == "txt" else write_kind(kind, prose, prose.with_suffix(f".{kind}"))
        floor = read_and_hash(path)
        run = ingest_once(user=user, path=path, label=kind)
        floor_mb_s = run["size_mb"] / floor
        figures.append(
            {
                **run,
                "baseline_read_sha256_mb_s": round(floor_mb_s, 1),
                "ratio_processing_to_baseline": round(run["processing_mb_s"] / floor_mb_s, 4),
            }
        )
    return figures


def ingest_once(*, user, path: Path, label: str) -> dict:
    from ingest.models import Chunk, Document, IngestJob

    project = common.new_project(user, f"throughput {label}")
    size_mb = path.stat().st_size / common.MB
    created = time.perf_counter()
    job = common.create_job(project=project, user=user, paths=[path])
    create_seconds = time.perf_counter() - created
    common.wait_for(
        lambda: common.job_status(job.pk) in ("completed", "failed", "cancelled"),
        timeout=600,
        interval=0.02,
        message=f"job {job.pk} to finish",
    )
    wall = time.perf_counter() - created
    job = IngestJob.all_objects.get(pk=job.pk)
    if job.status != "completed":
        raise RuntimeError(f"job {job.pk} ended {job.status}: {job.error}")
    processing = (job.finished_at - job.started_at).total_seconds()
    document = Document.objects.get(job=job)
    common.remove_job_uploads(job)
    return {
        "label": label,
        "job": str(job.pk),
        "size_mb": round(size_mb, 2),
        "create_seconds": round(create_seconds, 3),
        "processing_seconds": round(processing, 3),
        "wall_seconds": round(wall, 3),
        "processing_mb_s": round(size_mb / processing, 2),
        "wall_mb_s": round(size_mb / wall, 2),
        "chunks": Chunk.objects.filter(document=document).count(),
        "document_chars": document.size,
    }


def measure_memory(worker, *, user, path: Path) -> dict:
    watcher = common.MemoryWatcher(worker.pid)
    watcher.start()
    try:
        run = ingest_once(user=user, path=path, label="memory")
    finally:
        watcher.stop()
    horses = watcher.horses()
    if not horses:
        raise RuntimeError("no work horse was seen while the job ran")
    horse = max(horses.values(), key=lambda h: h["vmhwm_mb"])
    return {
        **run,
        "horse_vmhwm_mb": round(horse["vmhwm_mb"], 1),
        "horse_max_vmrss_mb": round(horse["max_vmrss_mb"], 1),
        "horse_rss_at_fork_mb": round(horse["rss_at_fork_mb"], 1),
        "worker_vmhwm_mb": round(watcher.root_peak_mb(), 1),
        "target_mb": MEMORY_TARGET_MB,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=50, help="size of the throughput upload")
    parser.add_argument("--big-mb", type=float, default=100, help="size of the memory upload")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument(
        "--kinds", default="", help="also these kinds, comma-separated: txt,html,csv,json"
    )
    parser.add_argument("--novel", action="store_true", help="real prose, until searchable")
    parser.add_argument("--novel-mb", type=float, default=40, help="the novel repeated to this")
    parser.add_argument("--novel-rounds", type=int, default=1, help="rounds of A B B A")
    parser.add_argument("--baseline", metavar="DIR", help="with --novel: another checkout too")
    args = parser.parse_args(argv)

    bench = common.setup("pipeline_throughput")
    if args.novel:
        return measure_novel(bench, args)
    try:
        print(f"# pipeline throughput ({common.load_note()})")
        small = common.write_text_file(bench.tmp / "upload.txt", size_mb=args.mb, seed=args.seed)
        big = common.write_text_file(bench.tmp / "big.txt", size_mb=args.big_mb, seed=args.seed + 1)
        user = common.bench_user()
        worker = common.start_worker(bench)

        baseline_seconds = read_and_hash(small)
        run = ingest_once(user=user, path=small, label="throughput")
        baseline_mb_s = run["size_mb"] / baseline_seconds
        kinds = [k for k in args.kinds.split(",") if k]
        per_kind = measure_kinds(kinds, user=user, prose=small) if kinds else []
        memory = measure_memory(worker, user=user, path=big)
        figures = {
            "throughput": {
                **run,
                "baseline_read_sha256_seconds": round(baseline_seconds, 3),
                "baseline_read_sha256_mb_s": round(baseline_mb_s, 1),
                "ratio_processing_to_baseline": round(run["processing_mb_s"] / baseline_mb_s, 4),
            },
            "memory": memory,
            "kinds": per_kind,
            "load_after": common.load_note(),
        }
        report(figures)
        print(f"results: {common.write_results('pipeline_throughput', figures)}")
    finally:
        bench.close()
    return 0


def measure_novel(bench, args) -> int:
    from bench import novel

    try:
        print(f"# upload to searchable, real prose ({common.load_note()})")
        figures = novel.measure(bench, args)
        figures["load_after"] = common.load_note()
        novel.report(figures)
        print(f"  {figures['load_after']}")
        print(f"results: {common.write_results('pipeline_throughput_novel', figures)}")
    finally:
        bench.close()
    return 0


def report(figures: dict) -> None:
    t, m = figures["throughput"], figures["memory"]
    print(f"upload {t['size_mb']:.1f} MB text -> {t['chunks']} chunks")
    print(f"  {'':34} {'MB/s':>9} {'seconds':>9}")
    print(
        f"  {'baseline: read + sha256':34} {t['baseline_read_sha256_mb_s']:9.1f} "
        f"{t['baseline_read_sha256_seconds']:9.3f}"
    )
    print(
        f"  {'pipeline: started_at..finished_at':34} {t['processing_mb_s']:9.2f} "
        f"{t['processing_seconds']:9.3f}"
    )
    print(
        f"  {'pipeline: wall (create..finished)':34} {t['wall_mb_s']:9.2f} {t['wall_seconds']:9.3f}"
    )
    print(f"  job_create (store + sha256): {t['create_seconds']:.3f} s")
    print(
        f"  ratio pipeline/baseline: {t['ratio_processing_to_baseline']:.4f} "
        f"(pipeline is {1 / t['ratio_processing_to_baseline']:.1f}x the floor cost)"
    )
    for kind in figures["kinds"]:
        print(
            f"  kind {kind['label']:5} {kind['size_mb']:7.1f} MB  {kind['processing_mb_s']:7.2f} MB/s"
            f"  floor {kind['baseline_read_sha256_mb_s']:7.1f} MB/s"
            f"  ratio {kind['ratio_processing_to_baseline']:.4f}  ({kind['chunks']} chunks)"
        )
    verdict = "OK" if m["horse_vmhwm_mb"] < m["target_mb"] else "OVER TARGET"
    print(
        f"memory, {m['size_mb']:.1f} MB upload ({m['processing_mb_s']:.2f} MB/s, "
        f"{m['chunks']} chunks):"
    )
    print(
        f"  work horse VmHWM {m['horse_vmhwm_mb']:.1f} MB (RSS at fork "
        f"{m['horse_rss_at_fork_mb']:.1f} MB, max polled VmRSS {m['horse_max_vmrss_mb']:.1f} MB)"
    )
    print(f"  parent worker VmHWM {m['worker_vmhwm_mb']:.1f} MB")
    print(f"  target < {m['target_mb']} MB: {verdict}")
    print(f"  {figures['load_after']}")


if __name__ == "__main__":
    sys.exit(main())
