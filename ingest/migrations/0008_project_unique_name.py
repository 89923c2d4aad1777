"""Project names become unique, regardless of case, site-wide.

Projects already sharing a name (in any case) keep it on the oldest one; each
later one gets " (2)", " (3)"... so the constraint can be added, and every
name a command or an agent is given names one project."""

import django.db.models.functions.text
from django.db import migrations, models

NAME_LENGTH = 200


def renamed(projects) -> list[tuple]:
    """``(pk, new name)`` for each project, oldest first, whose name (in any
    case) an older one already has."""
    taken, changes = set(), []
    for pk, original in projects:
        name, number = original, 1
        while name.lower() in taken:
            number += 1
            suffix = f" ({number})"
            name = original[: NAME_LENGTH - len(suffix)] + suffix
        taken.add(name.lower())
        if name != original:
            changes.append((pk, name))
    return changes


def rename_duplicates(apps, schema_editor):
    Project = apps.get_model("ingest", "Project")
    projects = Project.objects.using(schema_editor.connection.alias)
    oldest_first = projects.order_by("created_at", "id").values_list("pk", "name")
    for pk, name in renamed(oldest_first.iterator()):
        projects.filter(pk=pk).update(name=name)


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0007_chunk_document_index_from_the_unique_constraint"),
    ]

    operations = [
        migrations.RunPython(rename_duplicates, migrations.RunPython.noop, elidable=True),
        migrations.AddConstraint(
            model_name="project",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("name"),
                name="project_unique_name",
                violation_error_message="A project with this name already exists.",
            ),
        ),
    ]
