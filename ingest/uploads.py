"""Upload limits enforced while the request streams in, not after.

A file over INGEST_MAX_FILE_BYTES, or a request whose files pass
INGEST_MAX_TOTAL_BYTES, stops the upload at that point: nothing more is
written to disk, the rest of the body is drained, and the view answers 413.
"""

from django.conf import settings
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler


class LimitedUploadHandler(TemporaryFileUploadHandler):
    def __init__(self, request=None):
        super().__init__(request)
        self.total = 0
        self.current = 0

    def new_file(self, *args, **kwargs):
        self.current = 0
        super().new_file(*args, **kwargs)

    def receive_data_chunk(self, raw_data, start):
        self.current += len(raw_data)
        self.total += len(raw_data)
        if self.current > settings.INGEST_MAX_FILE_BYTES:
            self._refuse(
                f"{self.file_name} is over the limit of {settings.INGEST_MAX_FILE_BYTES} "
                "bytes per file."
            )
        if self.total > settings.INGEST_MAX_TOTAL_BYTES:
            self._refuse(
                f"the files add up to more than {settings.INGEST_MAX_TOTAL_BYTES} bytes, "
                "the limit for one job."
            )
        return super().receive_data_chunk(raw_data, start)

    def _refuse(self, message: str):
        if self.request is not None:
            self.request.upload_refused = message
        self.file.close()
        raise StopUpload(connection_reset=False)
