from django.contrib.auth import views as auth_views
from django.urls import path

from ingest import views

app_name = "ingest"

urlpatterns = [
    path("", views.project_list, name="project-list"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
