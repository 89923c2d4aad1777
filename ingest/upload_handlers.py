"""Upload limits enforced file by file as the form is parsed, not after:
Django upload handlers, so HTTP plumbing that the API and the dashboard
share. The domain never calls them (an import-linter contract); the refusals
they leave are the domain's own (``ingest.services.errors``). Django's ASGI
handler reads the whole body before the form is parsed: how much it may
read is bounded at the door, before it starts (``config.bodies``).

A file over INGEST_MAX_FILE_BYTES, a request whose files pass
INGEST_MAX_TOTAL_BYTES, or one file more than INGEST_MAX_FILES, stops the
upload at that point: nothing more is
written, the rest of the body is drained, and the view raises the refusal
left on the request (:func:`raise_refusal`; 413).

Every request's files go to a temporary file first, as Django does
(:class:`LimitedUploadHandler`): Django's CSRF check reads a form's body
before any view runs, so a request not yet known to be allowed must not
reach the object storage. With ``INGEST_UPLOAD_STORAGE=s3`` a request
authenticated by its API token, which needs no CSRF check, is known to be
allowed before its body is read: its files go straight to the bucket while
they arrive (:func:`stream_to_storage`, :class:`S3UploadHandler`). The files
of a session's request go to the bucket once it has passed both checks.
"""

import hashlib
import io
import logging

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import (
    FileUploadHandler,
    StopUpload,
    TemporaryFileUploadHandler,
)

from ingest import storage
from ingest.services.errors import over_file_count, over_file_limit, over_job_limit

logger = logging.getLogger(__name__)

# A multipart part's size. S3 wants at least 5 MiB for every part but the
# last; a request holds at most one part in memory, whatever the file's size.
PART_SIZE = 8 * 1024 * 1024
HEAD_BYTES = 4096  # what intake sniffs to judge a file's type


class UploadLimits:
    """The per-file and per-request limits, counted as the bytes arrive."""

    request = None
    file = None
    file_name = ""

    def start_counting(self):
        self.total = 0
        self.current = 0
        self.files = 0

    def start_file(self) -> None:
        """Before a file is opened: one past the job's count is not opened.

        Django counts the parts it parses against DATA_UPLOAD_MAX_NUMBER_FILES,
        one more than INGEST_MAX_FILES (see the settings), so that this refusal,
        with the product's sentence, comes first."""
        self.current = 0
        self.files += 1
        if self.files > settings.INGEST_MAX_FILES:
            self.refuse(over_file_count())

    def count(self, raw_data: bytes) -> None:
        self.current += len(raw_data)
        self.total += len(raw_data)
        if self.current > settings.INGEST_MAX_FILE_BYTES:
            self.refuse(over_file_limit(self.file_name))
        if self.total > settings.INGEST_MAX_TOTAL_BYTES:
            self.refuse(over_job_limit())

    def refuse(self, refusal: Exception):
        if self.request is not None:
            self.request.upload_refusal = refusal
        if self.file is not None:
            self.file.close()
        raise StopUpload(connection_reset=False)


class LimitedUploadHandler(UploadLimits, TemporaryFileUploadHandler):
    def __init__(self, request=None):
        super().__init__(request)
        self.start_counting()

    def new_file(self, *args, **kwargs):
        self.start_file()
        super().new_file(*args, **kwargs)

    def receive_data_chunk(self, raw_data, start):
        self.count(raw_data)
        return super().receive_data_chunk(raw_data, start)


class StreamedUpload(UploadedFile):
    """A file written to the bucket while it arrived.

    Reading it gives its first bytes only (what intake sniffs); its
    ``sha256`` and ``storage_path`` are known once it is complete. The object
    is deleted when the request ends unless a job ``claimed`` it, so a
    refused or failed upload leaves nothing behind (Django closes every
    uploaded file when the request finishes).
    """

    def __init__(self, name, content_type, charset, content_type_extra):
        super().__init__(io.BytesIO(), name, content_type, 0, charset, content_type_extra)
        self.storage_path = storage.streamed_upload_path(name)
        self.sha256 = ""
        self.claimed = False
        self.peak_buffered = 0  # the most bytes held in memory at once
        self._digest = hashlib.sha256()
        self._buffer = bytearray()
        self._parts: list[dict] = []
        self._upload_id = None
        self._stored = False

    def append(self, data: bytes) -> None:
        if self.size < HEAD_BYTES:
            self.file.write(data[: HEAD_BYTES - self.size])
        self.size += len(data)
        self._digest.update(data)
        self._buffer += data
        self.peak_buffered = max(self.peak_buffered, len(self._buffer))
        if len(self._buffer) >= PART_SIZE:
            self._send_part()

    def finish(self) -> None:
        client, key = storage.s3_client(), storage.s3_key(self.storage_path)
        if self._upload_id is None:  # small enough for one request
            client.put_object(Bucket=storage.bucket(), Key=key, Body=bytes(self._buffer))
        else:
            if self._buffer:
                self._send_part()
            client.complete_multipart_upload(
                Bucket=storage.bucket(),
                Key=key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
            self._upload_id = None
        self._stored = True
        self._buffer = bytearray()
        self.sha256 = self._digest.hexdigest()
        self.file.seek(0)

    def _send_part(self) -> None:
        client, key = storage.s3_client(), storage.s3_key(self.storage_path)
        if self._upload_id is None:
            started = client.create_multipart_upload(Bucket=storage.bucket(), Key=key)
            self._upload_id = started["UploadId"]
        number = len(self._parts) + 1
        sent = client.upload_part(
            Bucket=storage.bucket(),
            Key=key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=bytes(self._buffer),
        )
        self._parts.append({"PartNumber": number, "ETag": sent["ETag"]})
        self._buffer = bytearray()

    def close(self):
        try:
            self._discard()
        except storage.STORAGE_ERRORS as exc:
            logger.warning("upload %s not removed from the bucket: %s", self.storage_path, exc)
        super().close()

    def _discard(self) -> None:
        client, key = storage.s3_client(), storage.s3_key(self.storage_path)
        if self._upload_id is not None:
            client.abort_multipart_upload(
                Bucket=storage.bucket(), Key=key, UploadId=self._upload_id
            )
            self._upload_id = None
        if self._stored and not self.claimed:
            client.delete_object(Bucket=storage.bucket(), Key=key)
            self._stored = False


class S3UploadHandler(UploadLimits, FileUploadHandler):
    """Streams each file of the request to the bucket as it arrives, one part
    at a time. A storage that cannot be written stops the upload and leaves
    :class:`~ingest.storage.StorageUnavailable` on the request (503)."""

    def __init__(self, request=None):
        super().__init__(request)
        self.start_counting()
        self.file = None

    def new_file(self, *args, **kwargs):
        self.start_file()
        super().new_file(*args, **kwargs)
        self.file = StreamedUpload(
            self.file_name, self.content_type, self.charset, self.content_type_extra
        )

    def receive_data_chunk(self, raw_data, start):
        self.count(raw_data)
        self._storing(self.file.append, raw_data)

    def file_complete(self, file_size):
        self._storing(self.file.finish)
        return self.file

    def _storing(self, operation, *args) -> None:
        try:
            operation(*args)
        except storage.STORAGE_ERRORS as exc:
            logger.warning("upload refused: object storage failed (%s)", exc)
            self.refuse(storage.StorageUnavailable(storage.describe(exc)))


def stream_to_storage(request) -> None:
    """Send ``request``'s files straight to the bucket as they arrive.

    Call it only for a request that is authenticated and needs no CSRF
    check (an API token), before its body is read; elsewhere the files wait
    in temporary files until a view has passed both checks."""
    if storage.is_s3():
        request.upload_handlers = [S3UploadHandler(request)]


def raise_refusal(request) -> None:
    """Raise what stopped the request's upload while it streamed in, if anything.

    Call it once the body was read (``request.POST``, ``request.data``)."""
    if refusal := getattr(request, "upload_refusal", None):
        raise refusal
