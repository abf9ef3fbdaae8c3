from crispy_forms.helper import FormHelper
from django import forms
from django.utils.text import slugify

from segments.models import Segment


class SegmentFromFiltersForm(forms.ModelForm):
    """A name and a description for a segment whose rules come from the customer list."""

    class Meta:
        model = Segment
        fields = ("name", "description")
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        # The address is made from the name: two names with one address cannot both be saved.
        slug = slugify(name, allow_unicode=True)
        if not slug:
            raise forms.ValidationError("Use at least one letter or digit in the name.")
        if Segment.objects.filter(slug=slug).exists():
            raise forms.ValidationError(
                f"A segment with a name so close that its address would be the same (“{slug}”) "
                "already exists. Choose another name."
            )
        return name
