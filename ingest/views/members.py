"""A project's members: everyone in it sees who is, and with which role; its
owners add people, change their roles and remove them. Plain form posts
that come back to the page with a notice, so they work without script."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from ingest import selectors, services
from ingest.forms import MemberForm, RoleForm
from ingest.models import Membership, Role
from ingest.views.http import as_sentence, project_membership, refused


@login_required
@require_http_methods(["GET", "POST"])
def member_list(request, project_id):
    membership = project_membership(request, project_id)
    form = MemberForm(request.POST or None)
    if form.is_bound and form.is_valid():
        try:
            added = services.membership_add(
                actor_membership=membership, only_new=True, **form.cleaned_data
            )
        except services.InvalidInput as exc:
            form.add_error("username", as_sentence(exc.message))
        except services.PermissionRefused as exc:
            return refused(request, _in_words(exc), back=members_url(membership))
        else:
            role = added.get_role_display().lower()
            messages.success(request, f"{added.user.username} added as {role}.")
            return redirect(members_url(membership))
    context = {
        "project": membership.project,
        "membership": membership,
        "is_owner": membership.role == Role.OWNER,
        "members": selectors.member_list(project=membership.project),
        "form": form,
        "roles": Role.choices,
    }
    status = 400 if form.errors else 200
    return render(request, "ingest/member_list.html", context, status=status)


@login_required
@require_POST
def member_role(request, project_id, member_id):
    membership = project_membership(request, project_id)
    member = _member(membership, member_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        return refused(request, NOT_A_ROLE, back=members_url(membership))
    try:
        changed = services.membership_add(
            actor_membership=membership, username=member.user.username, **form.cleaned_data
        )
    except (services.PermissionRefused, services.LastOwner) as exc:
        return refused(request, _in_words(exc), back=members_url(membership))
    role = changed.get_role_display().lower()
    messages.success(request, f"{changed.user.username} is now {role}.")
    return redirect(members_url(membership))


@login_required
@require_POST
def member_remove(request, project_id, member_id):
    membership = project_membership(request, project_id)
    member = _member(membership, member_id)
    try:
        services.membership_remove(actor_membership=membership, username=member.user.username)
    except (services.PermissionRefused, services.LastOwner, services.InvalidInput) as exc:
        return refused(request, _in_words(exc), back=members_url(membership))
    if member.pk == membership.pk:
        messages.success(request, f"You left “{membership.project.name}”.")
        return redirect("ingest:project-list")
    messages.success(request, f"{member.user.username} removed from “{membership.project.name}”.")
    return redirect(members_url(membership))


def _member(membership: Membership, member_id) -> Membership:
    member = membership.project.memberships.select_related("user").filter(pk=member_id).first()
    if member is None:
        raise Http404("No such member of this project.")
    return member


def _in_words(exc: Exception) -> services.Refusal:
    refusal = services.refusal_for(exc)
    return services.Refusal(refusal.status, refusal.code, as_sentence(refusal.detail))


NOT_A_ROLE = services.Refusal(400, "invalid", "Choose one of the roles offered.")


def members_url(membership: Membership) -> str:
    return reverse("ingest:member-list", kwargs={"project_id": membership.project_id})
