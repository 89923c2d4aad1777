"""Where uploads are kept: the local disk (the default) or an S3-compatible bucket.

Most of the code reads and writes uploads through Django's ``default_storage``
(``django-storages``' ``S3Storage`` when ``INGEST_UPLOAD_STORAGE=s3``). This
module holds what that API cannot do well: stream an object into a local file
block by block (``S3File`` first downloads the whole object into a spooled
buffer, in memory unless ``AWS_S3_MAX_MEMORY_SIZE`` is set), copy an object
within the bucket without downloading it, probe the bucket for /readyz, and
turn the storage's own errors into one sentence a person can act on.
"""

import contextlib
import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.files.storage import default_storage
from storages.utils import clean_name

logger = logging.getLogger(__name__)

COPY_BLOCK = 1024 * 1024
PROBE_TIMEOUT = 1.0  # seconds, as /readyz's other probes
STORAGE_ERRORS = (BotoCoreError, ClientError)
MISSING_KEY_CODES = {"NoSuchKey", "404", "NotFound"}
CREDENTIAL_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "403",
    "InvalidToken",
    "ExpiredToken",
}


def upload_dir(job) -> str:
    """Where a job's uploads are stored, one folder per job."""
    return f"jobs/{job.project_id}/{job.pk}"


def upload_path(job, position: int, name: str) -> str:
    """The stored name of the job's file at ``position``: its folder, the
    position (so that two files of one name never meet) and the name made safe."""
    return f"{upload_dir(job)}/{position:04d}-{safe_name(name)}"


def streamed_upload_path(name: str) -> str:
    """Where a file streamed to the bucket goes while its request is still
    arriving, before any job exists (``ingest.upload_handlers.S3UploadHandler``)."""
    return f"uploads/{uuid.uuid4().hex}/{safe_name(name)}"


def safe_name(name: str) -> str:
    """A file's name fit for a path: its last part, letters, digits and
    ``._-`` only, at most 120 characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9._-]+", "_", base)[:120] or "file"


class StorageUnavailable(Exception):
    """The upload storage cannot be used now (a missing bucket, refused
    credentials, an endpoint that does not answer)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def is_s3() -> bool:
    return settings.INGEST_UPLOAD_STORAGE == "s3"


def s3_client():
    """The low-level boto3 client of the storage's own (thread-local) connection."""
    return default_storage.connection.meta.client


def s3_key(name: str) -> str:
    """The object key ``default_storage`` uses for ``name`` (its ``location`` prefix)."""
    return default_storage._normalize_name(clean_name(name))


def bucket() -> str:
    return default_storage.bucket_name


def error_code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def describe(exc: Exception) -> str:
    """One sentence about what is wrong with the object storage, for whoever
    asked: what to fix, but neither the endpoint's address nor the error's
    own text, which :func:`details` gives for the log and for staff."""
    code = error_code(exc)
    if code == "NoSuchBucket":
        return f"the upload bucket '{bucket()}' does not exist; create it or fix AWS_STORAGE_BUCKET_NAME."
    if code in CREDENTIAL_CODES:
        return (
            f"object storage refused the credentials for bucket '{bucket()}' ({code}); "
            "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY."
        )
    if isinstance(exc, BotoCoreError):
        return "object storage does not answer; try again in a few minutes."
    return "object storage failed; try again in a few minutes."


def details(exc: Exception) -> str:
    """What :func:`describe` leaves out: where the storage is and what it raised."""
    endpoint = settings.AWS_S3_ENDPOINT_URL or "AWS S3"
    return f"object storage at {endpoint}: {error_code(exc) or type(exc).__name__}: {exc}"


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Raise :class:`StorageUnavailable` for the storage's own errors; a
    missing object stays ``FileNotFoundError``."""
    try:
        yield
    except STORAGE_ERRORS as exc:
        if error_code(exc) in MISSING_KEY_CODES:
            raise FileNotFoundError(str(exc)) from exc
        logger.warning("%s", details(exc))
        raise StorageUnavailable(describe(exc)) from exc


def check(*, detailed: bool = False) -> dict:
    """For /readyz: can the uploads be written where they are configured to go?
    ``detailed`` adds what failed, in the storage's own words (for staff)."""
    if not is_s3():
        return {"ok": True, "backend": "local"}
    try:
        _probe_client().head_bucket(Bucket=bucket())
    except STORAGE_ERRORS as exc:
        logger.warning("readiness: %s", details(exc))
        missing = error_code(exc) in {*MISSING_KEY_CODES, "NoSuchBucket"}
        message = _no_such_bucket() if missing else describe(exc)
        if detailed:
            message = f"{message} ({details(exc)})"
        return {"ok": False, "backend": "s3", "error": message}
    return {"ok": True, "backend": "s3", "bucket": bucket()}


def _probe_client():
    # The storage's own session and endpoint, with short timeouts and no
    # retries: a dead endpoint must not hang the probe.
    store = default_storage
    return store._create_session().client(
        "s3",
        region_name=store.region_name,
        use_ssl=store.use_ssl,
        endpoint_url=store.endpoint_url,
        verify=store.verify,
        config=store.client_config.merge(
            Config(
                connect_timeout=PROBE_TIMEOUT,
                read_timeout=PROBE_TIMEOUT,
                retries={"max_attempts": 0},
            )
        ),
    )


def download(name: str, target: Path, on_block: Callable[[], None]) -> None:
    """Stream a stored upload into ``target``, block by block, calling
    ``on_block`` after each (the worker's checkpoint)."""
    with translated(), target.open("wb") as dst:
        if is_s3():
            body = s3_client().get_object(Bucket=bucket(), Key=s3_key(name))["Body"]
            with contextlib.closing(body):
                for block in body.iter_chunks(COPY_BLOCK):
                    dst.write(block)
                    on_block()
            return
        with default_storage.open(name, "rb") as src:
            while block := src.read(COPY_BLOCK):
                dst.write(block)
                on_block()


def copy(source: str, target: str) -> str:
    """Copy a stored upload to a new name without sending it through this
    process: a server-side copy in the bucket, a hard link (or a copy across
    file systems) on disk. Returns the new name."""
    with translated():
        if is_s3():
            s3_client().copy({"Bucket": bucket(), "Key": s3_key(source)}, bucket(), s3_key(target))
            return target
        destination = Path(default_storage.path(target))
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(default_storage.path(source), destination)
        except OSError:
            shutil.copyfile(default_storage.path(source), destination)
        return target


def exists(name: str) -> bool:
    return size_of(name) is not None


def size_of(name: str) -> int | None:
    """The stored upload's size; None when it is not there. A missing bucket
    is :class:`StorageUnavailable`, not a missing object: S3 answers a HEAD
    with the same bare 404 for both, so the bucket is asked about then."""
    with translated():
        if not is_s3():
            return default_storage.size(name) if default_storage.exists(name) else None
        client = s3_client()
        try:
            return client.head_object(Bucket=bucket(), Key=s3_key(name))["ContentLength"]
        except ClientError as exc:
            if error_code(exc) not in MISSING_KEY_CODES:
                raise
        try:
            client.head_bucket(Bucket=bucket())
        except ClientError as exc:
            if error_code(exc) in MISSING_KEY_CODES:
                raise StorageUnavailable(_no_such_bucket()) from exc
            raise
        return None


def remove(name: str) -> int | None:
    """Delete a stored upload; its size, or None when it was not there."""
    size = size_of(name)
    if size is not None:
        with translated():
            default_storage.delete(name)
    return size


def _no_such_bucket() -> str:
    return describe(ClientError({"Error": {"Code": "NoSuchBucket"}}, "HeadBucket"))
