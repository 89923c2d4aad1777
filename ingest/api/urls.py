from rest_framework.routers import DefaultRouter

from ingest.api import views

app_name = "api"

# Any segment reaches the view, whose lookup answers a malformed id with the
# API's JSON 404 (a route that did not match would get Django's page instead).
PROJECT = r"projects/(?P<project_id>[^/]+)"

router = DefaultRouter()
router.register("projects", views.ProjectViewSet, basename="project")
router.register(f"{PROJECT}/members", views.MemberViewSet, basename="member")
router.register(f"{PROJECT}/ingest/jobs", views.JobViewSet, basename="job")
router.register(f"{PROJECT}/documents", views.DocumentViewSet, basename="document")

urlpatterns = router.urls
