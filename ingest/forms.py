"""Dashboard forms. They check the shape of the input; the rules (limits,
types, chunking ranges) stay in ``services`` so the API and the dashboard
refuse the same things with the same words."""

from django import forms

from ingest.models import Role


class ProjectForm(forms.Form):
    name = forms.CharField(
        max_length=200,
        label="Project name",
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "e.g. Annual reports"}),
    )


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices, label="Role")


class MemberForm(RoleForm):
    username = forms.CharField(
        max_length=150,
        label="Username",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    field_order = ["username", "role"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].initial = Role.MEMBER


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class UploadForm(forms.Form):
    # The files themselves are read from request.FILES by the view and checked
    # by services.check_uploads; this field only renders the input.
    files = forms.FileField(
        required=False,
        label="Files",
        widget=MultipleFileInput(attrs={"multiple": True}),
    )
    name = forms.CharField(
        max_length=200,
        required=False,
        label="Job name",
        help_text="Optional; defaults to the first file's name.",
    )
    chunk_size = forms.IntegerField(
        required=False,
        label="Chunk size",
        help_text="Characters per chunk, 50 to 100000.",
        widget=forms.NumberInput(attrs={"min": 50, "max": 100_000, "step": 1}),
        error_messages={"invalid": "Chunk size must be a whole number of characters."},
    )
    chunk_overlap = forms.IntegerField(
        required=False,
        label="Chunk overlap",
        help_text="Characters shared by neighbouring chunks, at most half the chunk size.",
        widget=forms.NumberInput(attrs={"min": 0, "step": 1}),
        error_messages={"invalid": "Chunk overlap must be a whole number of characters."},
    )

    def __init__(self, *args, chunk_size: int, chunk_overlap: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["chunk_size"].widget.attrs["placeholder"] = chunk_size
        self.fields["chunk_overlap"].widget.attrs["placeholder"] = chunk_overlap

    def clean_files(self):
        # The field keeps only the last file; the view passes them all on.
        return None


class CancelForm(forms.Form):
    reason = forms.CharField(max_length=1000, required=False)


class CleanupForm(forms.Form):
    documents = forms.BooleanField(required=False)
