"""ViewSets: translate HTTP to a selector or service call and back, nothing more."""

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import authentication, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from ingest import selectors, services, upload_handlers
from ingest.api import serializers as s
from ingest.api.authentication import project_membership
from ingest.api.schema import IDEMPOTENCY_KEY, IF_MATCH, LOCATION, errors, etag
from ingest.models import Document, IngestJob, Membership, Project
from jobs import lifecycle
from jobs.models import JobStatus


class ProjectRole(permissions.BasePermission):
    """Members of the project read; members and owners write. Non-members get
    404 from ``membership_get`` so a project's existence does not leak."""

    message = services.VIEWERS_READ_ONLY

    def has_permission(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return False
        try:
            # Read with the token when a token authenticated the request.
            view.membership = project_membership(request) or selectors.membership_get(
                user=request.user, project_id=view.kwargs["project_id"]
            )
        except selectors.NotFound:
            if not audit_read(request, view):
                raise
            view.membership = view.project = None  # an auditor reading one job
            return True
        view.project = view.membership.project
        return request.method in permissions.SAFE_METHODS or view.membership.can_write


def audit_read(request, view) -> bool:
    """Whether the request is an auditor reading a job (``can_audit``): one
    job and its events, whatever its state, deleted included, in any project,
    as the admin and the dashboard's job page show them to auditors."""
    return (
        request.method in permissions.SAFE_METHODS
        and view.action in getattr(view, "audited_actions", ())
        and selectors.can_audit(request.user)
    )


class ProjectScoped:
    permission_classes = [permissions.IsAuthenticated, ProjectRole]
    membership: Membership


def check_if_match(request, job) -> int | None:
    """The version an If-Match holds the write to (None without one); 412 now
    if it already does not match. The service's UPDATE requires it too, so a
    change between this read and that write is refused as well."""
    expected = request.headers.get("If-Match")
    if not expected or expected.strip() == "*":
        return None
    accepted = {tag.strip().removeprefix("W/") for tag in expected.split(",")}
    if job.etag.removeprefix("W/") not in accepted:
        raise lifecycle.VersionMismatch(job)
    return job.version


class ProjectViewSet(viewsets.GenericViewSet):
    """The caller's projects. Creating one makes the caller its owner."""

    serializer_class = s.ProjectOutput
    queryset = Project.objects.none()  # for the schema only; get_queryset scopes to the user

    def get_queryset(self) -> QuerySet:
        # The list shows no job counts: they cost a count per project.
        return selectors.project_list(user=self.request.user, with_counts=False).queryset()

    @extend_schema(responses={200: s.ProjectOutput(many=True), **errors(404)})
    def list(self, request):
        projects = selectors.project_list(user=request.user, with_counts=False)
        page = self.paginate_queryset(projects)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=s.ProjectInput, responses={201: s.ProjectOutput, **errors(400, 415)})
    def create(self, request):
        data = s.ProjectInput(data=request.data)
        data.is_valid(raise_exception=True)
        project = services.project_create(user=request.user, name=data.validated_data["name"])
        project = self.get_queryset().get(pk=project.pk)  # with the caller's role
        return Response(self.get_serializer(project).data, status=status.HTTP_201_CREATED)


class MemberViewSet(ProjectScoped, viewsets.GenericViewSet):
    """Members of a project; an owner adds a user by username with a role."""

    serializer_class = s.MemberOutput
    queryset = Membership.objects.none()  # for the schema only

    @extend_schema(responses={200: s.MemberOutput(many=True), **errors(404)})
    def list(self, request, project_id):
        members = selectors.member_list(project=self.project)
        page = self.paginate_queryset(members)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        request=s.MemberInput, responses={201: s.MemberOutput, **errors(400, 404, 409, 415)}
    )
    def create(self, request, project_id):
        data = s.MemberInput(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_add(
            actor_membership=self.membership, **data.validated_data
        )
        return Response(self.get_serializer(membership).data, status=status.HTTP_201_CREATED)


class JobViewSet(ProjectScoped, viewsets.GenericViewSet):
    """Ingest jobs of a project: create, list, show, cancel, clean up, delete, events."""

    serializer_class = s.JobOutput
    queryset = IngestJob.objects.none()  # for the schema only; the selectors scope to the project
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    # No django-filter (DESIGN.md names it "where a list filters"): a FilterSet
    # filters a QuerySet, and a list's count and pages are prepared queries
    # (selectors.job_list). The one filter, ?status=, is a query serializer,
    # validated and in the schema as DELETE's ?force= is.
    lookup_value_regex = "[^/]+"

    def get_serializer_class(self):
        return s.JobSummaryOutput if self.action == "list" else s.JobOutput

    # What an auditor may read of any job, deleted ones included (audit_read).
    audited_actions = ("retrieve", "events")

    def get_job(self, with_files=True):
        if self.membership is not None:
            try:
                return selectors.job_get(
                    project=self.project, job_id=self.kwargs["pk"], with_files=with_files
                )
            except selectors.NotFound:
                if not audit_read(self.request, self):
                    raise
        job = selectors.job_for_audit(
            project_id=self.kwargs["project_id"], job_id=self.kwargs["pk"]
        )
        if job is None:
            raise selectors.NotFound()
        return job

    def get_job_by_id(self, job_id):
        return selectors.job_get(project=self.project, job_id=job_id, with_files=True)

    def respond(self, job, status_code=status.HTTP_200_OK, *, created=False):
        body = s.JobOutput(job, context=self.get_serializer_context()).data
        response = Response(body, status_code)
        response["ETag"] = job.etag
        if created:
            response["Location"] = body["url"]
        return response

    @extend_schema(
        parameters=[s.JobListQuery],
        responses={200: s.JobSummaryOutput(many=True), **errors(400, 404)},
    )
    def list(self, request, project_id):
        query = s.JobListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        jobs = selectors.job_list(project=self.project, status=query.validated_data.get("status"))
        page = self.paginate_queryset(jobs)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    # 409: the Idempotency-Key already names another request's job.
    @extend_schema(
        request={"multipart/form-data": s.JobCreateInput},
        responses={
            201: s.JobOutput,
            200: OpenApiResponse(s.JobOutput, "the first job, for a repeated Idempotency-Key"),
            **errors(400, 404, 409, 413, 415, 422, 503),
        },
        parameters=[IDEMPOTENCY_KEY, LOCATION, etag(200, 201)],
    )
    def create(self, request, project_id):
        if isinstance(request.successful_authenticator, authentication.TokenAuthentication):
            upload_handlers.stream_to_storage(request)  # no CSRF check will read the body first
        # Reading request.data is what streams the body through the upload
        # handler, so the refusal it records is known only afterwards.
        data = s.JobCreateInput(data=request.data)
        upload_handlers.raise_refusal(request)
        data.is_valid(raise_exception=True)
        job, created = services.job_create(
            project=self.project,
            user=request.user,
            uploads=request.FILES.getlist("files"),
            name=data.validated_data.get("name", ""),
            chunk_size=data.validated_data.get("chunk_size"),
            chunk_overlap=data.validated_data.get("chunk_overlap"),
            idempotency_key=request.headers.get("Idempotency-Key", ""),
        )
        if not created:
            return self.respond(job)
        return self.respond(job, status.HTTP_201_CREATED, created=True)

    @extend_schema(responses={200: s.JobOutput, **errors(404)}, parameters=[etag(200)])
    def retrieve(self, request, project_id, pk):
        """The job. Auditors read any job, a deleted one too: it is cancelled,
        with its ``deleted_at`` and the ``status_before_delete`` it had."""
        return self.respond(self.get_job())

    @extend_schema(
        request=s.CancelInput,
        responses={200: s.JobOutput, 202: s.JobOutput, **errors(400, 404, 409, 412, 415)},
        parameters=[IF_MATCH, etag(200, 202)],
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, project_id, pk):
        job = self.get_job(with_files=False)
        version = check_if_match(request, job)
        data = s.CancelInput(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = services.job_cancel(
            job=job, actor=request.user, version=version, **data.validated_data
        )
        code = status.HTTP_200_OK if outcome.to_status == JobStatus.CANCELLED else 202
        return self.respond(self.get_job(), code)

    @extend_schema(
        request=s.CleanupInput,
        responses={200: s.CleanupOutput, **errors(400, 404, 409, 412, 415, 503)},
        parameters=[IF_MATCH],
    )
    @action(detail=True, methods=["post"])
    def cleanup(self, request, project_id, pk):
        job = self.get_job(with_files=False)
        check_if_match(request, job)
        data = s.CleanupInput(data=request.data)
        data.is_valid(raise_exception=True)
        report = services.job_cleanup(job=job, actor=request.user, **data.validated_data)
        return Response(s.CleanupOutput(report).data)

    @extend_schema(
        request=None,
        responses={201: s.JobOutput, **errors(404, 409, 503)},
        parameters=[LOCATION, etag(201)],
    )
    @action(detail=True, methods=["post"])
    def retry(self, request, project_id, pk):
        """A new job with only the files this one did not finish, from its stored uploads."""
        retry = services.job_retry(job=self.get_job(with_files=False), actor=request.user)
        return self.respond(self.get_job_by_id(retry.pk), status.HTTP_201_CREATED, created=True)

    @extend_schema(responses={200: s.EventOutput(many=True), **errors(404)})
    @action(detail=True, methods=["get"])
    def events(self, request, project_id, pk):
        job = self.get_job(with_files=False)
        events = lifecycle.events_for(job)
        page = self.paginate_queryset(events)
        return self.get_paginated_response(s.EventOutput(page, many=True).data)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "position",
                int,
                OpenApiParameter.PATH,
                description="the file's position in the job, from 0 (its result's order)",
            )
        ],
        responses={200: s.MemberResultOutput(many=True), **errors(404)},
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=r"files/(?P<position>[^/]+)/members",
        filter_backends=[],
    )
    def members(self, request, project_id, pk, position):
        """A zip's members or a message's attachments, each with its own
        result, in the order they were read (a job's answer shows the first)."""
        job = self.get_job(with_files=False)
        members = selectors.file_members(job=job, position=position)
        page = self.paginate_queryset(members)
        return self.get_paginated_response(s.MemberResultOutput(page, many=True).data)

    @extend_schema(
        parameters=[s.DeleteQuery, IF_MATCH, etag(202)],
        responses={
            204: OpenApiResponse(description="deleted"),
            202: OpenApiResponse(s.JobOutput, description="cancelling; deleted once cancelled"),
            **errors(400, 404, 409, 412),
        },
    )
    def destroy(self, request, project_id, pk):
        job = self.get_job(with_files=False)
        version = check_if_match(request, job)
        query = s.DeleteQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        force = query.validated_data["force"]
        was_active = job.is_active
        if not services.job_delete(job=job, actor=request.user, force=force, version=version):
            raise selectors.NotFound()  # another request deleted it first
        if was_active:
            job.refresh_from_db()  # the base manager: found even once deleted
            return self.respond(job, status.HTTP_202_ACCEPTED)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DocumentViewSet(ProjectScoped, viewsets.GenericViewSet):
    """The project's canonical documents, searchable by title and text."""

    serializer_class = s.DocumentOutput
    queryset = Document.objects.none()  # for the schema only; the selectors scope to the project
    lookup_value_regex = "[^/]+"

    def get_serializer_class(self):
        return s.DocumentHitOutput if self.action == "list" else s.DocumentOutput

    def search_query(self) -> str:
        return selectors.search_query(self.request.query_params.get("q", ""))

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "q",
                str,
                description='search titles and text: words, "a phrase", or, -word '
                "(PostgreSQL; plain words on SQLite); hits come best first",
            )
        ],
        responses={200: s.DocumentHitOutput(many=True), **errors(404)},
    )
    def list(self, request, project_id):
        q = self.search_query()
        page = self.paginate_queryset(selectors.document_list(project=self.project, q=q))
        selectors.document_snippets(documents=page, q=q)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(responses={200: s.DocumentOutput, **errors(404)})
    def retrieve(self, request, project_id, pk):
        document = selectors.document_get(project=self.project, document_id=pk)
        return Response(self.get_serializer(document).data)

    @extend_schema(responses={200: s.ChunkOutput(many=True), **errors(404)})
    @action(detail=True, methods=["get"])
    def chunks(self, request, project_id, pk):
        document = selectors.document_get(project=self.project, document_id=pk)
        page = self.paginate_queryset(selectors.document_chunks(document=document))
        return self.get_paginated_response(s.ChunkOutput(page, many=True).data)
