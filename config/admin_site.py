"""The admin site: Django's, with one refusal added to every model's admin.

Django's admin runs an action on the rows whose keys ``_selected_action``
names, passing them to ``filter(pk__in=...)`` as sent: a key that is not a
key of the model (not a UUID, not a number) raised there and answered 500.
Every admin registered here, ours and those of Django's own apps alike,
checks the keys first and answers a malformed one as it answers an empty
selection: with a message, and the list again.
"""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.apps import AdminConfig
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect


class CheckedSelection:
    """A ModelAdmin mixin: an action on keys the model cannot have changes nothing."""

    def response_action(self, request, queryset):
        key = self.model._meta.pk
        try:
            for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
                key.to_python(value)
        except ValidationError:
            self.message_user(
                request,
                "The selection names rows that cannot exist; choose them from the list.",
                messages.WARNING,
            )
            return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset)


class AdminSite(admin.AdminSite):
    def register(self, model_or_iterable, admin_class=None, **options):
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, CheckedSelection):
            admin_class = type(admin_class.__name__, (CheckedSelection, admin_class), {})
        super().register(model_or_iterable, admin_class, **options)


class IngestAdminConfig(AdminConfig):
    default_site = "config.admin_site.AdminSite"
