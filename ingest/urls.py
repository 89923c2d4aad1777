from django.contrib.auth import views as auth_views
from django.urls import path

from ingest import stream
from ingest.views import documents, jobs, members, projects

app_name = "ingest"

PROJECT = "projects/<uuid:project_id>/"
JOB = PROJECT + "jobs/<uuid:job_id>/"

urlpatterns = [
    path("", projects.project_list, name="project-list"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(PROJECT, projects.project_detail, name="project-detail"),
    path(PROJECT + "events/", stream.project_events, name="project-events"),
    path(PROJECT + "jobs/new/", jobs.job_create, name="job-create"),
    path(PROJECT + "jobs/new/outcome/", jobs.job_upload_outcome, name="job-upload-outcome"),
    path(JOB, jobs.job_detail, name="job-detail"),
    path(JOB + "row/", jobs.job_row, name="job-row"),
    path(JOB + "cancel/", jobs.job_cancel, name="job-cancel"),
    path(JOB + "delete/", jobs.job_delete, name="job-delete"),
    path(JOB + "cleanup/", jobs.job_cleanup, name="job-cleanup"),
    path(JOB + "retry/", jobs.job_retry, name="job-retry"),
    path(PROJECT + "members/", members.member_list, name="member-list"),
    path(PROJECT + "members/<int:member_id>/role/", members.member_role, name="member-role"),
    path(PROJECT + "members/<int:member_id>/remove/", members.member_remove, name="member-remove"),
    path(JOB + "files/<int:position>/members/", jobs.file_members, name="file-members"),
    path(PROJECT + "documents/", documents.document_list, name="document-list"),
    path(
        PROJECT + "documents/<uuid:document_id>/", documents.document_detail, name="document-detail"
    ),
]
