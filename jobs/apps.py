from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Deleting a job soft-deletes it through the state machine, which
        # imports the models: wired here, once both are loaded (see
        # ``Job.soft_delete_transition``).
        from jobs.lifecycle import soft_delete
        from jobs.models import Job

        Job.soft_delete_transition = staticmethod(soft_delete)
