from django.contrib.auth import views as auth_views
from django.urls import path

from ingest import stream, views

app_name = "ingest"

PROJECT = "projects/<uuid:project_id>/"
JOB = PROJECT + "jobs/<uuid:job_id>/"

urlpatterns = [
    path("", views.project_list, name="project-list"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(PROJECT, views.project_detail, name="project-detail"),
    path(PROJECT + "events/", stream.project_events, name="project-events"),
    path(PROJECT + "jobs/new/", views.job_create, name="job-create"),
    path(JOB, views.job_detail, name="job-detail"),
    path(JOB + "row/", views.job_row, name="job-row"),
    path(JOB + "cancel/", views.job_cancel, name="job-cancel"),
    path(JOB + "delete/", views.job_delete, name="job-delete"),
    path(JOB + "cleanup/", views.job_cleanup, name="job-cleanup"),
    path(JOB + "retry/", views.job_retry, name="job-retry"),
    path(PROJECT + "documents/", views.document_list, name="document-list"),
    path(PROJECT + "documents/<uuid:document_id>/", views.document_detail, name="document-detail"),
]
