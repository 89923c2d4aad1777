"""Token authentication that reads the caller's role in the project the URL
names in the same query.

Every project-scoped endpoint needs both the token's user and that user's
membership of the project (``ProjectRole``): one query each was a third of a
job detail's queries. Here a token on such a URL is looked up joined to its
user's membership of the project; the membership rides on the request, and
``ProjectRole`` uses it instead of a query of its own. A token whose user is
not a member there (or a URL with no project) is looked up alone, as DRF
looks it up, so a bad token is still refused (403 ``authentication_failed``:
session authentication comes first, so DRF sends no 401 challenge) and a
non-member still gets 404. Both lookups are prepared queries (see
``ingest.prepared``): compiling them cost more than running them.
"""

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from config import auth
from ingest import selectors
from ingest.prepared import PreparedQuery

MEMBERSHIP = "_project_membership"  # the request attribute ProjectRole reads


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate(self, request):
        self.request = request  # an authenticator is made for each request
        return super().authenticate(request)

    def authenticate_credentials(self, key):
        project_id = ((self.request.parser_context or {}).get("kwargs") or {}).get("project_id")
        membership = project_id and selectors.membership_for_token(key=key, project_id=project_id)
        if not membership:
            return token_user(key)
        refuse_inactive(membership.user)
        setattr(self.request, MEMBERSHIP, membership)
        return membership.user, membership.user.auth_token


_TOKEN = PreparedQuery(
    lambda key: Token.objects.select_related("user").filter(key=key)[:1], key=str
)


def token_user(key: str):
    """DRF's ``authenticate_credentials``, with the token read by a prepared query."""
    token = _TOKEN.first(key=key)
    if token is None:
        raise exceptions.AuthenticationFailed(_("Invalid token."))
    refuse_inactive(token.user)
    return token.user, token


def refuse_inactive(user) -> None:
    if not user.is_active:
        raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
    if auth.refused_demo(user):
        raise exceptions.AuthenticationFailed(auth.DEMO_REFUSED)


def project_membership(request):
    """The membership ``TokenAuthentication`` read with the token, if it did."""
    return request.__dict__.get(MEMBERSHIP)
