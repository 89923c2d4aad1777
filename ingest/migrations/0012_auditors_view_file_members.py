"""Auditors read a zip's members and a message's attachments too
(``view_filemember``): the model came after their group was made."""

from django.db import migrations

AUDITORS = "auditors"
CODENAME = "view_filemember"


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # On a fresh database the permissions are made only after the last
    # migration (post_migrate): make this app's now, as 0002 does.
    alias = schema_editor.connection.alias
    app_config = apps.get_app_config("ingest")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0, using=alias)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.using(alias).get_or_create(name=AUDITORS)
    permission = Permission.objects.using(alias).get(
        content_type__app_label="ingest", codename=CODENAME
    )
    group.permissions.add(permission)


def revoke(apps, schema_editor):
    alias = schema_editor.connection.alias
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = Permission.objects.using(alias).filter(
        content_type__app_label="ingest", codename=CODENAME
    )
    for group in Group.objects.using(alias).filter(name=AUDITORS):
        group.permissions.remove(*permissions)


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0011_job_actions_and_failed_files"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
