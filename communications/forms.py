"""Forms of the log and the tickets: logging a contact, opening a ticket, replying to it,
changing its status or assignee."""

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Field, Layout, Row
from django import forms

from communications.models import Channel, Communication, Direction, Purpose, Ticket
from communications.services import LOGGED_STATUSES
from communications.tickets import TRANSITIONS, assignable_users

Status = Communication.Status

# The statuses a logged contact may have, in the order of the steps.
LOGGED_STATUS_CHOICES = [
    (status.value, status.label)
    for status in Status
    if any(status in allowed for allowed in LOGGED_STATUSES.values())
]
# The channels a reply to a ticket goes through (not push or the app: those are sent, not logged).
REPLY_CHANNELS = [
    (channel.value, channel.label)
    for channel in (Channel.EMAIL, Channel.PHONE, Channel.CHAT, Channel.SMS, Channel.IN_PERSON)
]


def local_datetime_input() -> forms.DateTimeInput:
    return forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class CommunicationLogForm(forms.Form):
    """A contact that happened: a call, a visit, a chat, a message sent by hand. The service
    (communication_log) judges the status against the direction and the time against now."""

    channel = forms.ChoiceField(choices=Channel.choices, initial=Channel.PHONE)
    direction = forms.ChoiceField(choices=Direction.choices, initial=Direction.OUTBOUND)
    purpose = forms.ChoiceField(choices=Purpose.choices, initial=Purpose.FOLLOW_UP)
    status = forms.ChoiceField(
        choices=LOGGED_STATUS_CHOICES,
        initial=Status.DELIVERED,
        help_text="Delivered: it reached them. Replied: they answered. Failed: it did not "
        "reach them.",
    )
    subject = forms.CharField(max_length=200, required=False)
    body = forms.CharField(
        label="What was said",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    occurred_at = forms.DateTimeField(
        label="When",
        required=False,
        widget=local_datetime_input(),
        help_text="Leave empty for now.",
    )

    def __init__(self, *args, **kwargs):
        # The customer page holds other forms (the note's body): ids of its own keep labels apart.
        kwargs.setdefault("auto_id", "contact_%s")
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            Row(
                Column("channel", css_class="col-6 col-md-3"),
                Column("direction", css_class="col-6 col-md-3"),
                Column("purpose", css_class="col-6 col-md-3"),
                Column("status", css_class="col-6 col-md-3"),
            ),
            Row(
                Column("subject", css_class="col-md-8"),
                Column("occurred_at", css_class="col-md-4"),
            ),
            Field("body"),
        )


class TicketOpenForm(forms.ModelForm):
    """A new ticket: what the customer asked, and through which channel."""

    body = forms.CharField(
        label="What the customer asked",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Kept as the ticket's first message.",
    )
    channel = forms.ChoiceField(label="Came in by", choices=REPLY_CHANNELS, initial=Channel.EMAIL)

    class Meta:
        model = Ticket
        fields = ["subject", "priority", "assignee"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = assignable_users()
        self.fields["assignee"].required = False
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            Field("subject"),
            Field("body"),
            Row(
                Column("channel", css_class="col-md-4"),
                Column("priority", css_class="col-md-4"),
                Column("assignee", css_class="col-md-4"),
            ),
        )


class TicketReplyForm(forms.Form):
    """A message on a ticket: an answer staff sent, or what the customer wrote back."""

    body = forms.CharField(label="Message", widget=forms.Textarea(attrs={"rows": 3}))
    direction = forms.ChoiceField(
        label="Who wrote it",
        choices=[
            (Direction.OUTBOUND.value, "We answered the customer"),
            (Direction.INBOUND.value, "The customer wrote to us"),
        ],
        initial=Direction.OUTBOUND,
        widget=forms.RadioSelect,
    )
    channel = forms.ChoiceField(choices=REPLY_CHANNELS, initial=Channel.EMAIL)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            Field("body"),
            Row(Column("direction", css_class="col-md-7"), Column("channel", css_class="col-md-5")),
        )


class TicketStatusForm(forms.Form):
    status = forms.ChoiceField(label="Status", choices=Ticket.Status.choices)

    def __init__(self, *args, ticket: Ticket, **kwargs):
        super().__init__(*args, **kwargs)
        allowed = {ticket.status, *TRANSITIONS[ticket.status]}
        self.fields["status"].choices = [
            (value, label) for value, label in Ticket.Status.choices if value in allowed
        ]
        self.fields["status"].initial = ticket.status


class TicketAssignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        label="Assignee", queryset=None, required=False, empty_label="Nobody"
    )

    def __init__(self, *args, ticket: Ticket, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = assignable_users()
        self.fields["assignee"].initial = ticket.assignee_id
