"""Cleanup events written before ``extra`` existed held their counts in the
reason's sentence: they are moved into ``extra``, as new cleanups write them.
A reason this does not recognise is left as it is."""

import re

from django.db import migrations

COUNTS = re.compile(
    r"removed (?P<files_removed>\d+) stored file\(s\) and (?P<work_dirs_removed>\d+) work "
    r"directory \((?P<bytes_freed>\d+) bytes freed\), (?P<rq_entries_removed>\d+) queue "
    r"entries, (?P<documents_removed>\d+) document\(s\) with (?P<chunks_removed>\d+) chunk\(s\)\."
)
NOTHING = "nothing to remove: this job was already cleaned up."
FIELDS = [
    "files_removed",
    "bytes_freed",
    "work_dirs_removed",
    "rq_entries_removed",
    "documents_removed",
    "chunks_removed",
]


def counts_from_reason(reason: str) -> dict | None:
    if reason == NOTHING:
        return dict.fromkeys(FIELDS, 0)
    if match := COUNTS.fullmatch(reason):
        return {name: int(match[name]) for name in FIELDS}
    return None


def reason_from_counts(extra: dict) -> str:
    if not any(extra.values()):
        return NOTHING
    return (
        f"removed {extra['files_removed']} stored file(s) and {extra['work_dirs_removed']} work "
        f"directory ({extra['bytes_freed']} bytes freed), {extra['rq_entries_removed']} queue "
        f"entries, {extra['documents_removed']} document(s) with {extra['chunks_removed']} "
        "chunk(s)."
    )


def move_counts_to_extra(apps, schema_editor):
    events = apps.get_model("jobs", "JobEvent").objects.using(schema_editor.connection.alias)
    for event in events.filter(action="cleanup", extra={}).exclude(reason="").iterator():
        counts = counts_from_reason(event.reason)
        if counts is not None:
            events.filter(pk=event.pk).update(reason="", extra=counts)


def move_counts_to_reason(apps, schema_editor):
    events = apps.get_model("jobs", "JobEvent").objects.using(schema_editor.connection.alias)
    for event in events.filter(action="cleanup", reason="").exclude(extra={}).iterator():
        if set(event.extra) == set(FIELDS):
            events.filter(pk=event.pk).update(reason=reason_from_counts(event.extra), extra={})


class Migration(migrations.Migration):
    dependencies = [("jobs", "0003_event_extra")]

    operations = [migrations.RunPython(move_counts_to_extra, move_counts_to_reason)]
