"""A plain DRF app of the API's jobs endpoints, for ``bench.peers``: what a
Django team would write first. A ``ModelViewSet`` with ``ModelSerializer``s,
``prefetch_related`` for the detail's files, DRF's ``TokenAuthentication``, a
membership check, page-number pagination, stock Django's ASGI handler and
middleware, the database pool; the same models, tables and rows as ours.
Served as the Procfile serves ours (``PRIVATE_APIS=none``, so the soft
delete is the ORM's too).
"""

import functools
import os


class Settings:
    """What this app changes in the project's settings once Django is set up."""

    # django-admin startproject's middleware (not ours: no htmx, no axes).
    MIDDLEWARE = [
        "django.middleware.security.SecurityMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    ]


def _urlpatterns():
    from django.http import JsonResponse
    from django.urls import include, path
    from rest_framework import pagination, permissions, routers, serializers, viewsets
    from rest_framework.authentication import TokenAuthentication

    from ingest.models import IngestFile, IngestJob, Membership

    class FileSerializer(serializers.ModelSerializer):
        class Meta:
            model = IngestFile
            fields = ["name", "size", "status", "chunks", "error", "kind"]

    job_fields = ["id", "project", "name", "status", "version", "chunk_size", "chunk_overlap"]
    job_fields += ["created_at", "started_at", "finished_at", "cancel_requested_at", "error"]
    job_fields += ["items_total", "items_done", "bytes_total", "bytes_done"]

    class JobSerializer(serializers.ModelSerializer):
        class Meta:
            model = IngestJob
            fields = job_fields

    class JobDetailSerializer(JobSerializer):
        files = FileSerializer(many=True, read_only=True)

        class Meta(JobSerializer.Meta):
            fields = [*job_fields, "files"]

    class IsMember(permissions.BasePermission):
        def has_permission(self, request, view):
            project = view.kwargs["project_id"]
            return Membership.objects.filter(user=request.user, project_id=project).exists()

    class Pages(pagination.PageNumberPagination):
        page_size = 25

    class Jobs(viewsets.ModelViewSet):
        authentication_classes = [TokenAuthentication]
        permission_classes = [permissions.IsAuthenticated, IsMember]
        throttle_classes = []
        pagination_class = Pages
        http_method_names = ["get", "delete"]

        def get_queryset(self):
            jobs = IngestJob.objects.filter(project_id=self.kwargs["project_id"])
            jobs = jobs.order_by("-created_at", "-id")
            return jobs.prefetch_related("files") if self.action == "retrieve" else jobs

        def get_serializer_class(self):
            return JobDetailSerializer if self.action == "retrieve" else JobSerializer

        # destroy: Model.delete(), a finished job's soft delete (jobs.models).

    router = routers.SimpleRouter()
    router.register(r"api/projects/(?P<project_id>[^/.]+)/ingest/jobs", Jobs, basename="job")

    def healthz(request):
        return JsonResponse({"status": "ok"})

    return [path("healthz", healthz), path("", include(router.urls))]


@functools.cache
def _application():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DATABASE_POOL", "true")  # as ours: a pool per web process
    import django

    django.setup(set_prefix=False)
    from django.conf import settings
    from django.core.handlers.asgi import ASGIHandler

    settings.MIDDLEWARE = Settings.MIDDLEWARE
    settings.ROOT_URLCONF = __name__
    return ASGIHandler()  # get_asgi_application(), once the settings above are in


def __getattr__(name):
    # This module is the app's URLconf and application, built lazily so that
    # importing it needs no Django set up.
    if name == "urlpatterns":
        return _urlpatterns()
    if name == "application":
        return _application()
    raise AttributeError(name)
