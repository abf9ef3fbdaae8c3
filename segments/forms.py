from crispy_forms.helper import FormHelper
from django import forms
from django.utils.text import slugify

from customers.models import Tag
from segments.models import BulkAction, Segment


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


class BulkActionForm(forms.Form):
    """What to do with a segment's members (all, or those ticked on its page): the choices of
    ``segments.bulk.bulk_action_start``, which checks them again."""

    kind = forms.ChoiceField(
        label="Action", choices=BulkAction.Kind.choices, widget=forms.RadioSelect
    )
    tag = forms.ModelChoiceField(
        label="Tag",
        queryset=Tag.objects.order_by("name"),
        required=False,
        empty_label="Choose a tag",
        help_text="For adding or removing a tag.",
    )
    target_segment = forms.ModelChoiceField(
        label="Segment",
        queryset=Segment.objects.none(),
        required=False,
        empty_label="Choose a segment",
        help_text="For adding them to another segment by hand.",
    )
    customer = forms.TypedMultipleChoiceField(
        coerce=int, required=False, widget=forms.MultipleHiddenInput
    )

    def __init__(self, *args, segment: Segment, customer_ids: list[int] | None, **kwargs):
        super().__init__(*args, **kwargs)
        self.segment = segment
        self.fields["target_segment"].queryset = Segment.objects.exclude(pk=segment.pk).order_by(
            "name"
        )
        self.fields["customer"].choices = [(pk, pk) for pk in customer_ids or []]
        self.helper = FormHelper()
        self.helper.form_tag = False

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind")
        if kind in (BulkAction.Kind.ADD_TAG, BulkAction.Kind.REMOVE_TAG) and not cleaned.get("tag"):
            self.add_error("tag", "Choose the tag to add or remove.")
        if kind == BulkAction.Kind.ADD_TO_SEGMENT and not cleaned.get("target_segment"):
            self.add_error("target_segment", "Choose the segment to add them to.")
        return cleaned
