"""The log of contacts out to CSV and XLSX: one row per communication, export only (the log is
written by the services that log, send and track)."""

from import_export import fields, resources

from communications.models import Communication


class CommunicationResource(resources.ModelResource):
    customer = fields.Field(column_name="customer", readonly=True)
    staff_user = fields.Field(
        attribute="staff_user__username", column_name="staff_user", readonly=True
    )
    campaign = fields.Field(attribute="campaign__name", column_name="campaign", readonly=True)

    class Meta:
        model = Communication
        fields = (
            "id",
            "occurred_at",
            "customer",
            "channel",
            "direction",
            "purpose",
            "status",
            "skip_reason",
            "subject",
            "body",
            "recipient",
            "error",
            "staff_user",
            "campaign",
            "ticket",
            "provider_message_id",
            "queued_at",
            "sent_at",
            "delivered_at",
            "opened_at",
            "clicked_at",
            "replied_at",
            "bounced_at",
            "failed_at",
            "skipped_at",
        )
        export_order = fields

    def get_queryset(self):
        return (
            super()
            .get_queryset()
            .select_related("customer", "staff_user", "campaign")
            .order_by("-occurred_at", "-id")
        )

    def dehydrate_customer(self, communication: Communication) -> str:
        customer = communication.customer
        return customer.external_id or customer.email or str(customer.pk)

    def import_data(self, *args, **kwargs):
        raise NotImplementedError("The log of contacts is written by the services only.")
