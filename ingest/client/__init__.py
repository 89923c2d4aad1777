"""A small client for the ingest HTTP API, as a library and as a command.

    client = IngestClient("https://ingest.example.com", token)
    job = client.create("Reports", ["q3/", "notes.txt"])
    outcome = client.wait("Reports", job["id"])   # progress bar, Ctrl-C prompt

    python -m ingest.client --url URL --token TOKEN create Reports q3/ notes.txt

It needs only the standard library (urllib) and tqdm, never Django or the
server's settings, so it runs on any machine that can reach the server. The
progress bar, the Ctrl-C prompt and the exit statuses are those of
``manage.py ingest`` (both use ``ingest.client.follow``). Files the type rules refuse
are skipped before sending, with the server's own rule (``detect_kind``);
the size limits are the server's to enforce, and its refusal is shown as its
``detail`` sentence.
"""

from ingest.client.api import ApiError, IngestClient, Multipart, refusal
from ingest.client.command import main

__all__ = ["ApiError", "IngestClient", "Multipart", "main", "refusal"]
