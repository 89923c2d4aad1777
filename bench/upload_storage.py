"""Upload and ingest throughput with uploads on S3-compatible object storage
against the local disk, in one run.

The same generated text files go over HTTP (the remote client's streaming
multipart, to a real uvicorn) into a job, and a real ``rqworker`` ingests
them: once with ``INGEST_UPLOAD_STORAGE=local`` and once with ``s3`` against
moto's standalone server on the loopback (the bucket the tests use). The
rounds alternate, local first, so load drifts hit both alike; each figure is
the median of the rounds, and the S3/local ratios are what to read.

Upload throughput is the request's wall time, from the first byte sent to the
201; ingest throughput is the job's ``started_at`` to ``finished_at``.

moto keeps objects in its own Python process's memory: it is a stand-in for
the S3 API, not for a storage service's speed. The ratios show what this
code adds (multipart parts sent while the request streams in; the worker's
download into its work directory), not what AWS, MinIO or R2 would add.

    .venv/bin/python -m bench.upload_storage [--files 4] [--mb 16] [--rounds 2]
"""

import argparse
import statistics
import time

from bench import common
from tests.processes import MotoServer, serve


def s3_env(url: str) -> dict:
    return {
        "INGEST_UPLOAD_STORAGE": "s3",
        "AWS_STORAGE_BUCKET_NAME": "bench-uploads",
        "AWS_S3_ENDPOINT_URL": url,
        "AWS_S3_REGION_NAME": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
    }


def one_round(bench, base_env: dict, *, label, env: dict, folder, token: str, project) -> dict:
    from ingest.client.api import IngestClient
    from ingest.models import IngestJob

    bench.env = {**base_env, **env}
    web = common.start_web(bench)
    worker = common.start_worker(bench, label=f"worker-{label}")
    try:
        client = IngestClient(web.url, token, timeout=600)
        started = time.perf_counter()
        job = client.create(str(project.pk), [str(folder)], chunk_size=1000, chunk_overlap=100)
        upload_s = time.perf_counter() - started
        common.wait_for(
            lambda: common.job_status(job["id"]) in ("completed", "failed", "cancelled"),
            timeout=1800,
            interval=0.05,
            message=f"the {label} job to finish",
        )
        row = IngestJob.objects.get(pk=job["id"])
        if row.status != "completed":
            raise RuntimeError(f"{label} job ended {row.status}: {row.error}\n{worker.output()}")
        ingest_s = (row.finished_at - row.started_at).total_seconds()
        mb = row.bytes_total / common.MB
    finally:
        bench.stop(worker)
        bench.stop(web)
    return {"mb": mb, "upload_s": upload_s, "ingest_s": ingest_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--mb", type=float, default=16, help="size of each file")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    bench = common.setup("upload_storage")
    base_env = dict(bench.env)
    try:
        moto_url = serve(lambda: bench.start(MotoServer, label="moto")).url
        import boto3
        from rest_framework.authtoken.models import Token

        env = s3_env(moto_url)
        boto3.client(
            "s3",
            endpoint_url=moto_url,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        ).create_bucket(Bucket=env["AWS_STORAGE_BUCKET_NAME"])
        user = common.bench_user()
        token = Token.objects.get_or_create(user=user)[0].key
        folder = bench.tmp / "files"
        folder.mkdir()
        for n in range(args.files):
            common.write_text_file(folder / f"part{n}.txt", size_mb=args.mb, seed=n)
        runs: dict[str, list[dict]] = {"local": [], "s3": []}
        for number in range(args.rounds):
            for label, extra in (("local", {"INGEST_UPLOAD_STORAGE": "local"}), ("s3", env)):
                # A project per run: the same texts would otherwise be duplicates.
                project = common.new_project(user, f"{label} round {number}")
                run = one_round(
                    bench,
                    base_env,
                    label=label,
                    env=extra,
                    folder=folder,
                    token=token,
                    project=project,
                )
                runs[label].append(run)
                print(
                    f"round {number + 1} {label:5}: {run['mb']:.0f} MB uploaded in "
                    f"{run['upload_s']:.2f} s, ingested in {run['ingest_s']:.2f} s",
                    flush=True,
                )
        figures = summarize(runs)
        print_figures(figures)
        print("results:", common.write_results("upload_storage", {**figures, "runs": runs}))
    finally:
        bench.close()


def summarize(runs: dict[str, list[dict]]) -> dict:
    figures = {}
    for label, items in runs.items():
        figures[label] = {
            "upload_mb_s": statistics.median(r["mb"] / r["upload_s"] for r in items),
            "ingest_mb_s": statistics.median(r["mb"] / r["ingest_s"] for r in items),
        }
    figures["s3_over_local"] = {
        key: figures["s3"][key] / figures["local"][key] for key in ("upload_mb_s", "ingest_mb_s")
    }
    return figures


def print_figures(figures: dict) -> None:
    print(f"\n{'storage':8} {'upload MB/s':>12} {'ingest MB/s':>12}")
    for label in ("local", "s3"):
        row = figures[label]
        print(f"{label:8} {row['upload_mb_s']:12.1f} {row['ingest_mb_s']:12.1f}")
    ratio = figures["s3_over_local"]
    print(f"{'s3/local':8} {ratio['upload_mb_s']:12.2f} {ratio['ingest_mb_s']:12.2f}")
    print(common.load_note())


if __name__ == "__main__":
    main()
