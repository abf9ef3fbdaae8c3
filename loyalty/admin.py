from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join

from core.admin import (
    ChangedByActionsMixin,
    GuardedChangeListMixin,
    LabelledInlineFormSet,
    ReadOnlyAdmin,
)
from core.exports.admin import CrmExportMixin
from core.forms import error_text
from core.imports.admin import CrmImportExportMixin
from loyalty import services
from loyalty.admin_forms import LoyaltyAccountAddAdminForm, PointsAdjustAdminForm
from loyalty.models import (
    LoyaltyAccount,
    LoyaltyProgram,
    LoyaltyTransaction,
    PointLot,
    Redemption,
    Reward,
    Tier,
)
from loyalty.resources import (
    LoyaltyProgramResource,
    LoyaltyTransactionResource,
    RewardResource,
    TierResource,
)

LEDGER_ROWS_SHOWN = 50
CUSTOMER_SEARCH = ("first_name", "last_name", "email", "external_id")


def _customer_search(path: str) -> tuple[str, ...]:
    return tuple(f"{path}__{field}" for field in CUSTOMER_SEARCH)


class TierListFilter(admin.RelatedFieldListFilter):
    """Tier choices name their program; load the programs with the tiers, not one by one."""

    def field_choices(self, field, request, model_admin):
        tiers = Tier.objects.select_related("program").order_by("program__name", "threshold")
        return [(tier.pk, str(tier)) for tier in tiers]


# Programs, tiers, rewards -----------------------------------------------------------------------


class TierInline(admin.TabularInline):
    model = Tier
    formset = LabelledInlineFormSet
    extra = 0
    fields = ("name", "threshold", "earn_multiplier", "benefits")


class RewardInline(admin.TabularInline):
    model = Reward
    formset = LabelledInlineFormSet
    extra = 0
    fields = (
        "name",
        "points_cost",
        "reward_type",
        "value",
        "is_active",
        "valid_until",
        "stock",
    )


@admin.register(LoyaltyProgram)
class LoyaltyProgramAdmin(CrmImportExportMixin, GuardedChangeListMixin, admin.ModelAdmin):
    resource_classes = [LoyaltyProgramResource]
    list_display = (
        "name",
        "is_active",
        "period",
        "points_per_unit",
        "minimum_spend",
        "points_expire_after_days",
        "pending_days",
        "tier_basis",
        "member_count",
    )
    list_filter = ("is_active", "tier_basis", "auto_enrol")
    search_fields = ("name", "description")
    inlines = (TierInline, RewardInline)
    readonly_fields = ("created_at",)
    actions = ("add_default_tiers",)
    fieldsets = (
        (None, {"fields": ("name", "description", "is_active", "auto_enrol")}),
        ("Period", {"fields": (("starts_on", "ends_on"),)}),
        (
            "Earning",
            {
                "fields": (
                    ("points_per_unit", "minimum_spend"),
                    ("pending_days", "points_expire_after_days"),
                    "tier_basis",
                )
            },
        ),
        ("Record", {"classes": ("collapse",), "fields": ("created_at",)}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("accounts"))

    @admin.display(description="Period")
    def period(self, program):
        starts = date_format(program.starts_on) if program.starts_on else "start"
        ends = date_format(program.ends_on) if program.ends_on else "open-ended"
        return f"{starts} to {ends}"

    @admin.display(description="Members", ordering="member_count")
    def member_count(self, program):
        return program.member_count

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        program = form.instance
        if not program.tiers.exists():
            self.message_user(
                request,
                f"{program} has no tiers. Add them here, or select it in the list and run "
                "“Add default tiers (Bronze, Silver, Gold, Platinum)”.",
                messages.WARNING,
            )

    @admin.action(
        description="Add default tiers (Bronze, Silver, Gold, Platinum)", permissions=["change"]
    )
    def add_default_tiers(self, request, queryset):
        added, skipped = [], []
        for program in queryset:
            (
                added if services.loyalty_program_default_tiers_create(program=program) else skipped
            ).append(program.name)
        if added:
            self.message_user(
                request,
                f"Default tiers added to {', '.join(added)}. Existing members are placed in "
                "their tier by the nightly run.",
                messages.SUCCESS,
            )
        if skipped:
            self.message_user(
                request,
                f"Left unchanged (they already have tiers): {', '.join(skipped)}.",
                messages.WARNING,
            )


@admin.register(Tier)
class TierAdmin(CrmImportExportMixin, GuardedChangeListMixin, admin.ModelAdmin):
    """Tiers are edited on their program's page; this list imports and exports them."""

    resource_classes = [TierResource]
    list_display = ("name", "program", "threshold", "earn_multiplier")
    list_filter = ("program",)
    search_fields = ("name", "program__name")
    list_select_related = ("program",)
    ordering = ("program__name", "threshold")


@admin.register(Reward)
class RewardAdmin(CrmImportExportMixin, GuardedChangeListMixin, admin.ModelAdmin):
    resource_classes = [RewardResource]
    list_display = (
        "name",
        "program",
        "points_cost",
        "reward_type",
        "value",
        "is_active",
        "valid_until",
        "stock",
    )
    list_filter = ("program", "reward_type", "is_active")
    search_fields = ("name", "description", "program__name")
    list_select_related = ("program",)


# Accounts ---------------------------------------------------------------------------------------


@admin.register(LoyaltyAccount)
class LoyaltyAccountAdmin(GuardedChangeListMixin, ChangedByActionsMixin, admin.ModelAdmin):
    """Accounts are opened through enrolment and change only through the services: the account
    page is a view of the account and its latest ledger rows; points move by the actions."""

    add_form = LoyaltyAccountAddAdminForm
    list_display = (
        "customer",
        "program",
        "balance",
        "pending_points",
        "tier_name",
        "lifetime_earned",
        "lifetime_redeemed",
        "joined_at",
    )
    list_filter = ("program", ("tier", TierListFilter))
    search_fields = _customer_search("customer")
    list_select_related = ("customer", "program", "tier")
    autocomplete_fields = ("customer",)
    show_full_result_count = False
    actions = ("adjust_points",)
    readonly_fields = (
        "customer",
        "program",
        "balance",
        "pending_points",
        "tier",
        "lifetime_earned",
        "lifetime_redeemed",
        "joined_at",
        "ledger",
    )
    fieldsets = (
        (None, {"fields": ("customer", "program", "tier", "joined_at")}),
        (
            "Points",
            {"fields": (("balance", "pending_points"), ("lifetime_earned", "lifetime_redeemed"))},
        ),
        (f"Ledger (newest {LEDGER_ROWS_SHOWN})", {"fields": ("ledger",)}),
    )
    add_fieldsets = ((None, {"fields": ("customer", "program")}),)

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        # The ledger is the account's history; a member who leaves keeps it (set points to 0).
        return False

    def save_model(self, request, obj, form, change):
        account = services.loyalty_account_enrol(customer=obj.customer, program=obj.program)
        obj.pk = account.pk
        obj.refresh_from_db()
        obj._state.adding = False

    @admin.display(description="Tier", ordering="tier__threshold")
    def tier_name(self, account):
        return account.tier.name if account.tier else None

    @admin.display(description="Ledger")
    def ledger(self, account):
        if account.pk is None:
            return None
        rows = (
            LoyaltyTransaction.objects.filter(account=account)
            .select_related("order", "reward", "created_by")
            .order_by("-created_at", "-id")[:LEDGER_ROWS_SHOWN]
        )
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
            "<td>{}</td><td>{}</td></tr>",
            (
                (
                    date_format(timezone.localtime(row.created_at), "SHORT_DATETIME_FORMAT"),
                    row.get_kind_display(),
                    f"{row.points:+d}",
                    row.order or "",
                    row.reward.name if row.reward else "",
                    row.description,
                    row.shortfall or "",
                    row.created_by or "",
                )
                for row in rows
            ),
        )
        if not body:
            return "No points movements yet."
        url = reverse("admin:loyalty_loyaltytransaction_changelist")
        return format_html(
            '<table class="loyalty-ledger"><thead><tr><th>When</th><th>Kind</th><th>Points</th>'
            "<th>Order</th><th>Reward</th><th>Description</th><th>Shortfall</th><th>By</th>"
            '</tr></thead><tbody>{}</tbody></table><p><a href="{}?account__id__exact={}">'
            "The whole ledger of this account</a></p>",
            body,
            url,
            account.pk,
        )

    @admin.action(description="Adjust points…", permissions=["change"])
    def adjust_points(self, request, queryset):
        accounts = list(queryset.select_related("customer", "program"))
        form = PointsAdjustAdminForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            adjusted, refused = self._adjust(request, accounts, form.cleaned_data)
            if adjusted:
                points = form.cleaned_data["points"]
                self.message_user(
                    request,
                    f"{points:+d} points applied to {len(adjusted)} account(s).",
                    messages.SUCCESS,
                )
                for account, error in refused:
                    self.message_user(request, f"{account}: {error_text(error)}", messages.ERROR)
                return None
            # Nothing changed: show the form again with each refusal at its field.
            for field, message in _refusals_by_field(
                refused, selected=len(accounts), form_fields=form.fields
            ):
                form.add_error(field, message)
        context = {
            **self.admin_site.each_context(request),
            "title": "Adjust points",
            "opts": self.model._meta,
            "form": form,
            "accounts": accounts,
            "objects": accounts,
            "action": "adjust_points",
            "submit_label": "Adjust points",
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/loyalty/adjust_points.html", context)

    def _adjust(self, request, accounts, data):
        """Each account is adjusted in its own transaction: one refusal leaves the others."""
        adjusted, refused = [], []
        for account in accounts:
            try:
                services.loyalty_points_adjust(
                    account=account,
                    points=data["points"],
                    reason=data["reason"],
                    created_by=request.user,
                )
                adjusted.append(account)
            except ValidationError as error:
                refused.append((account, error))
        return adjusted, refused


def _refusals_by_field(refused, *, selected: int, form_fields):
    """(field, message) pairs for the form. A refusal shared by every selected account is said
    once; one that only some accounts met names them."""
    accounts_by_refusal: dict[tuple[str | None, str], list[LoyaltyAccount]] = {}
    for account, error in refused:
        by_field = error.message_dict if hasattr(error, "error_dict") else {None: error.messages}
        for field, field_messages in by_field.items():
            for message in field_messages:
                key = (field if field in form_fields else None, message)
                accounts_by_refusal.setdefault(key, []).append(account)
    for (field, message), accounts in accounts_by_refusal.items():
        if len(accounts) == selected:
            yield field, message
        else:
            yield field, f"{', '.join(str(account) for account in accounts)}: {message}"


# Vouchers and the ledger ------------------------------------------------------------------------


@admin.register(Redemption)
class RedemptionAdmin(GuardedChangeListMixin, ChangedByActionsMixin, admin.ModelAdmin):
    """Vouchers are issued by redeeming a reward from the customer's page (loyalty_reward_redeem);
    here they are found, marked used at the till, or cancelled to give the points back."""

    list_display = (
        "code",
        "customer",
        "program",
        "reward",
        "points",
        "status",
        "created_at",
        "used_at",
        "cancelled_at",
    )
    list_filter = ("status", "account__program")
    search_fields = ("=code", *_customer_search("account__customer"))
    list_select_related = ("account__customer", "account__program", "reward")
    show_full_result_count = False
    date_hierarchy = "created_at"
    actions = ("mark_used", "cancel")
    fields = (
        "code",
        "account",
        "reward",
        "points",
        "status",
        "lots_used",
        "created_by",
        "created_at",
        "used_at",
        "cancelled_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Customer", ordering="account__customer__last_name")
    def customer(self, redemption):
        return redemption.account.customer

    @admin.display(description="Program", ordering="account__program__name")
    def program(self, redemption):
        return redemption.account.program

    @admin.action(description="Mark used", permissions=["change"])
    def mark_used(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda redemption: services.loyalty_redemption_mark_used(redemption=redemption),
            done="marked used",
        )

    @admin.action(description="Cancel (give points back)", permissions=["change"])
    def cancel(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda redemption: services.loyalty_redemption_cancel(
                redemption=redemption, cancelled_by=request.user
            ),
            done="cancelled, points given back",
        )

    def _each(self, request, queryset, service, *, done: str):
        succeeded, refused = 0, []
        for redemption in queryset:
            try:
                service(redemption)
                succeeded += 1
            except ValidationError as error:
                refused.append(f"{redemption.code}: {error_text(error)}")
        if succeeded:
            self.message_user(request, f"{succeeded} voucher(s) {done}.", messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.ERROR)


@admin.register(LoyaltyTransaction)
class LoyaltyTransactionAdmin(CrmExportMixin, ReadOnlyAdmin):
    resource_classes = (LoyaltyTransactionResource,)
    list_display = (
        "created_at",
        "account",
        "kind",
        "points",
        "order",
        "reward_name",
        "description",
        "shortfall",
        "reversed",
        "created_by",
    )
    list_filter = ("kind", "account__program", "reversed")
    search_fields = (*_customer_search("account__customer"), "order__number")
    list_select_related = ("account__customer", "account__program", "order", "reward", "created_by")
    date_hierarchy = "created_at"
    fields = (
        "account",
        "kind",
        "points",
        "order",
        "reward",
        "redemption",
        "lot",
        "reverses",
        "reversed",
        "shortfall",
        "description",
        "created_by",
        "created_at",
    )

    @admin.display(description="Reward", ordering="reward__name")
    def reward_name(self, row):
        return row.reward.name if row.reward else ""


@admin.register(PointLot)
class PointLotAdmin(ReadOnlyAdmin):
    list_display = (
        "account",
        "points",
        "remaining",
        "earned_at",
        "available_at",
        "released",
        "expires_at",
    )
    list_filter = ("released", "account__program")
    search_fields = _customer_search("account__customer")
    list_select_related = ("account__customer", "account__program")
    date_hierarchy = "earned_at"
    fields = (
        "account",
        "points",
        "remaining",
        "earned_at",
        "available_at",
        "released",
        "expires_at",
    )
