"""Loyalty programs, tiers and rewards in and out of CSV and XLSX; the ledger out only.

A program is known by its name; a tier and a reward by their program's name and their own.
The ledger is written by the loyalty services alone (docs/loyalty.md), so it is exported, never
imported.
"""

from import_export import fields, resources, widgets

from core.imports.resources import CrmResource
from loyalty.models import LoyaltyProgram, LoyaltyTransaction, Reward, Tier


class LoyaltyProgramResource(CrmResource):
    class Meta:
        model = LoyaltyProgram
        fields = (
            "name",
            "description",
            "is_active",
            "starts_on",
            "ends_on",
            "points_per_unit",
            "minimum_spend",
            "points_expire_after_days",
            "pending_days",
            "tier_basis",
            "auto_enrol",
        )
        import_id_fields = ("name",)


class ProgramWidget(widgets.ForeignKeyWidget):
    """A program by its name."""

    def __init__(self):
        super().__init__(LoyaltyProgram, field="name")

    def clean(self, value, row=None, **kwargs):
        try:
            return super().clean(str(value or "").strip(), row, **kwargs)
        except LoyaltyProgram.DoesNotExist:
            raise ValueError(f"there is no loyalty program named '{value}'") from None


def program_field() -> fields.Field:
    return fields.Field(attribute="program", column_name="program", widget=ProgramWidget())


class ProgramPartResource(CrmResource):
    """A tier or reward, known by its program's name and its own name together."""

    program = program_field()

    def row_keys(self, row) -> list[tuple[str, object]]:
        program = str(row.get("program") or "").strip()
        name = str(row.get("name") or "").strip()
        return [("program and name", (program, name))] if program and name else []

    def existing_lookup(self, keys) -> dict:
        pairs = {value for _, value in keys}
        if not pairs:
            return {}
        found = self.get_queryset().filter(
            program__name__in={program for program, _ in pairs},
            name__in={name for _, name in pairs},
        )
        return {
            ("program and name", (part.program.name, part.name)): part
            for part in found
            if (part.program.name, part.name) in pairs
        }


class TierResource(ProgramPartResource):
    class Meta:
        model = Tier
        fields = ("program", "name", "threshold", "earn_multiplier", "benefits")
        import_id_fields = ("program", "name")

    def get_queryset(self):
        return super().get_queryset().select_related("program")


class RewardResource(ProgramPartResource):
    class Meta:
        model = Reward
        fields = (
            "program",
            "name",
            "description",
            "points_cost",
            "reward_type",
            "value",
            "is_active",
            "valid_until",
            "stock",
        )
        import_id_fields = ("program", "name")

    def get_queryset(self):
        return super().get_queryset().select_related("program")


class LoyaltyTransactionResource(resources.ModelResource):
    """The ledger, export only: one row per movement of points, newest first."""

    customer = fields.Field(column_name="customer", readonly=True)
    program = fields.Field(attribute="account__program__name", column_name="program", readonly=True)
    order = fields.Field(attribute="order__number", column_name="order", readonly=True)
    reward = fields.Field(attribute="reward__name", column_name="reward", readonly=True)
    created_by = fields.Field(
        attribute="created_by__username", column_name="created_by", readonly=True
    )

    class Meta:
        model = LoyaltyTransaction
        fields = (
            "id",
            "created_at",
            "customer",
            "program",
            "kind",
            "points",
            "order",
            "reward",
            "reversed",
            "shortfall",
            "description",
            "created_by",
        )
        export_order = fields

    def get_queryset(self):
        return (
            super()
            .get_queryset()
            .select_related("account__customer", "account__program", "order", "reward")
            .select_related("created_by")
        )

    def dehydrate_customer(self, transaction: LoyaltyTransaction) -> str:
        customer = transaction.account.customer
        return customer.external_id or customer.email or str(customer.pk)

    def import_data(self, *args, **kwargs):
        raise NotImplementedError("The loyalty ledger is written by the loyalty services only.")
