from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import SEARCH_VAR
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, Lower
from django.template.response import TemplateResponse
from django.utils import timezone
from django_countries.filters import CountryFilter

from core.admin import (
    EstimatedCountPaginator,
    GuardedChangeListMixin,
    LabelledInlineFormSet,
    ReadOnlyAdmin,
    ReadOnlyAdminMixin,
)
from core.forms import error_text
from core.imports.admin import CrmImportExportMixin
from customers import services
from customers.admin_forms import OrderAdminForm, OrderItemFormSet
from customers.forms import JSONTextField
from customers.models import (
    Address,
    Customer,
    CustomerTag,
    Note,
    Order,
    OrderItem,
    OrderStatusChange,
    Tag,
    TagRemoval,
)
from customers.resources import (
    AddressResource,
    CustomerResource,
    NoteResource,
    OrderResource,
    TagResource,
)


class AddressInline(admin.StackedInline):
    model = Address
    extra = 0
    fields = (
        ("kind", "is_default"),
        ("line1", "line2"),
        ("city", "region", "postal_code", "country"),
        ("verification_status", "verified_at", "verified_by"),
        "verification_notes",
        ("latitude", "longitude"),
    )
    readonly_fields = ("verified_at", "verified_by")


class NoteInline(admin.TabularInline):
    model = Note
    formset = LabelledInlineFormSet
    extra = 0
    fields = ("kind", "priority", "pinned", "body", "follow_up_on", "done", "author", "created_at")
    readonly_fields = ("author", "created_at")


class CustomerTagInline(admin.TabularInline):
    model = CustomerTag
    formset = LabelledInlineFormSet
    extra = 0
    autocomplete_fields = ("tag",)
    fields = ("tag", "added_at", "added_by")
    readonly_fields = ("added_at", "added_by")


@admin.register(Customer)
class CustomerAdmin(CrmImportExportMixin, GuardedChangeListMixin, admin.ModelAdmin):
    resource_classes = [CustomerResource]
    list_display = (
        "__str__",
        "email",
        "phone",
        "customer_type",
        "status",
        "order_count",
        "total_spent",
        "last_order_at",
        "rfm_segment",
    )
    list_filter = (
        "status",
        "customer_type",
        "source",
        "accepts_email",
        "accepts_sms",
        "rfm_segment",
        # A date filter, not a date hierarchy: its years are a DISTINCT over every customer.
        ("created_at", admin.DateFieldListFilter),
    )
    # Each backed by a trigram index on PostgreSQL (customers/0002); company has none.
    search_fields = ("first_name", "last_name", "email", "phone", "external_id")
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50
    formfield_overrides = {models.JSONField: {"form_class": JSONTextField}}
    inlines = (AddressInline, CustomerTagInline, NoteInline)
    readonly_fields = (
        Customer.STATS_FIELDS + Customer.ANALYTICS_FIELDS + ("created_at", "updated_at")
    )
    actions = ("deactivate",)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    ("first_name", "last_name"),
                    ("email", "phone", "phone_extension"),
                    ("company", "external_id"),
                    ("date_of_birth", "gender"),
                    ("customer_type", "source", "status"),
                )
            },
        ),
        (
            "Consent and preferences",
            {
                "classes": ("collapse",),
                "fields": (
                    ("accepts_email", "accepts_sms", "accepts_phone", "accepts_push"),
                    ("do_not_contact", "can_receive_offers", "can_receive_loyalty"),
                    ("best_contact_time", "preferred_channel", "preferred_payment"),
                    "preferred_categories",
                    "attributes",
                ),
            },
        ),
        ("Stats (from delivered orders)", {"fields": Customer.STATS_FIELDS}),
        ("Analytics (nightly)", {"classes": ("collapse",), "fields": Customer.ANALYTICS_FIELDS}),
        ("Record", {"classes": ("collapse",), "fields": ("created_at", "updated_at")}),
    )

    def save_model(self, request, obj, form, change):
        obj.email = services.normalize_email(obj.email)
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        instances = formset.save(commit=False)
        for instance in instances:
            if isinstance(instance, CustomerTag | Note) and instance.pk is None:
                field = "added_by" if isinstance(instance, CustomerTag) else "author"
                setattr(instance, field, request.user)
            instance.save()
        for obj in formset.deleted_objects:
            obj.delete()
        formset.save_m2m()

    def get_ordering(self, request):
        """A search is ordered by name without the name index: the matches (a few thousand for
        the commonest name) come from the trigram indexes and are sorted, instead of walking
        the name index through every customer until fifty match."""
        if request.GET.get(SEARCH_VAR, "").strip():
            return [Lower("last_name"), Lower("first_name"), "id"]
        return super().get_ordering(request)

    def get_deleted_objects(self, objs, request):
        """A customer whose orders or loyalty ledger protect it is not deleted: the confirmation
        page says to make the customer inactive instead, then lists what protects them."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        if protected:
            names = ", ".join(str(customer) for customer in objs[:5])
            more = " and others" if len(objs) > 5 else ""
            protected = [services.CUSTOMER_NOT_DELETED.format(customer=names + more), *protected]
            perms_needed = set()  # nothing is deleted anyway: say why, not which rights lack
        return deleted, counts, perms_needed, protected

    @admin.action(description="Deactivate selected customers", permissions=["change"])
    def deactivate(self, request, queryset):
        count = 0
        for customer in queryset:
            services.customer_deactivate(customer=customer)
            count += 1
        self.message_user(request, f"{count} customer(s) set inactive.", messages.SUCCESS)


class OrderItemInline(admin.TabularInline):
    model = OrderItem
    formset = OrderItemFormSet
    extra = 0
    fields = ("sku", "product_name", "category", "quantity", "unit_price", "line_total")


class OrderStatusChangeInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = OrderStatusChange
    extra = 0
    can_delete = False
    fields = ("changed_at", "from_status", "to_status", "changed_by")
    readonly_fields = fields


@admin.register(Order)
class OrderAdmin(CrmImportExportMixin, GuardedChangeListMixin, admin.ModelAdmin):
    resource_classes = [OrderResource]
    form = OrderAdminForm
    list_display = ("number", "customer", "status", "placed_at", "total", "currency", "item_count")
    list_filter = ("status", ("placed_at", admin.DateFieldListFilter), "channel", "payment_method")
    # Searched by get_search_results: an order number, a customer's email or external id.
    search_fields = ("number",)
    paginator = EstimatedCountPaginator
    list_select_related = ("customer",)
    autocomplete_fields = ("customer",)
    show_full_result_count = False
    # No date hierarchy (a DISTINCT over ten million orders on each page): a date filter instead.
    inlines = (OrderItemInline, OrderStatusChangeInline)
    readonly_fields = ("delivered_at", "created_at", "updated_at")
    actions = ("mark_delivered",)

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        if obj is not None and obj.status == Order.Status.DELIVERED:
            # A delivered order is counted in the stats: change it by returning it, not by editing.
            readonly = (
                *readonly,
                "customer",
                "total",
                *Order.AMOUNT_FIELDS,
                "item_count",
                "placed_at",
            )
        return readonly

    def save_model(self, request, obj, form, change):
        if change and "status" in form.changed_data:
            new_status = obj.status
            obj.status = form.initial["status"]
            super().save_model(request, obj, form, change)
            services.order_set_status(order=obj, status=new_status, changed_by=request.user)
            return
        if obj.status == Order.Status.DELIVERED and obj.delivered_at is None:
            obj.delivered_at = timezone.now()
        super().save_model(request, obj, form, change)

    def get_deleted_objects(self, objs, request):
        """A delivered order is not deleted (services.order_delete): the confirmation page
        lists it as protected, with what to do instead, and deletes nothing."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        protected = [
            *(
                services.ORDER_DELIVERED_NOT_DELETED.format(number=order)
                for order in objs
                if order.status == Order.Status.DELIVERED
            ),
            *protected,
        ]
        return deleted, counts, perms_needed, protected

    def get_search_results(self, request, queryset, search_term):
        """An order number, or a customer's email or external id, each found through an index:
        a substring search over ten million orders and their customers took half a minute."""
        term = search_term.strip()
        if not term:
            return queryset, False
        # Written as the two unique indexes are (lower-case email, external id; blanks left out).
        customers = (
            Customer.objects.alias(email_lower=Lower("email"))
            .exclude(email="")
            .filter(email_lower=services.normalize_email(term))
            .order_by()
            .values_list("pk", flat=True)
            .union(
                Customer.objects.exclude(external_id="")
                .filter(external_id=term)
                .order_by()
                .values_list("pk", flat=True)
            )
        )
        return queryset.filter(Q(number=term) | Q(customer_id__in=list(customers))), False

    @admin.action(description="Mark selected orders delivered", permissions=["change"])
    def mark_delivered(self, request, queryset):
        moved, refused = 0, []
        for order in queryset:
            try:
                services.order_set_status(
                    order=order, status=Order.Status.DELIVERED, changed_by=request.user
                )
                moved += 1
            except ValidationError as error:
                refused.append(f"{order.number}: {error_text(error)}")
        if moved:
            self.message_user(request, f"{moved} order(s) marked delivered.", messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.ERROR)


class TagMergeForm(forms.Form):
    target = forms.ModelChoiceField(
        queryset=Tag.objects.none(),
        label="Merge into",
        help_text="The other selected tags are deleted; their customers carry this one instead.",
    )

    def __init__(self, *args, tags, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].queryset = tags


@admin.register(Tag)
class TagAdmin(CrmImportExportMixin, GuardedChangeListMixin, admin.ModelAdmin):
    resource_classes = [TagResource]
    list_display = ("name", "slug", "color", "customer_count", "description")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    actions = ("merge",)

    def get_queryset(self, request):
        # Counted per tag shown, through the link table's tag index, not grouped over all links.
        carried = (
            CustomerTag.objects.filter(tag=OuterRef("pk"))
            .order_by()
            .values("tag")
            .annotate(customers=Count("*"))
            .values("customers")
        )
        return super().get_queryset(request).annotate(customer_count=Coalesce(Subquery(carried), 0))

    @admin.display(description="Customers", ordering="customer_count")
    def customer_count(self, tag) -> int:
        return tag.customer_count

    @admin.action(description="Merge the selected tags into one", permissions=["delete"])
    def merge(self, request, queryset):
        tags = queryset.order_by("name")
        if tags.count() < 2:
            self.message_user(request, "Select at least two tags to merge.", messages.WARNING)
            return None
        form = TagMergeForm(request.POST if "apply" in request.POST else None, tags=tags)
        if form.is_valid():
            target = form.cleaned_data["target"]
            sources = [tag for tag in tags if tag.pk != target.pk]
            gained = services.tags_merge(sources=sources, target=target, merged_by=request.user)
            names = ", ".join(f"“{tag.name}”" for tag in sources)
            self.message_user(
                request,
                f"{names} merged into “{target.name}”; {gained} customer(s) gained it.",
                messages.SUCCESS,
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Merge tags",
            "opts": self.model._meta,
            "form": form,
            "tags": tags,
            "objects": tags,
            "action": "merge",
            "submit_label": "Merge",
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/customers/tag/merge.html", context)


@admin.register(TagRemoval)
class TagRemovalAdmin(ReadOnlyAdmin):
    """Tags taken off customers: who added each one, who removed it and when."""

    list_display = ("customer", "tag", "added_at", "added_by", "removed_at", "removed_by")
    list_select_related = ("customer", "tag", "added_by", "removed_by")
    list_filter = ("tag",)
    date_hierarchy = None
    ordering = ("-removed_at", "-id")
    search_fields = ("customer__email", "customer__external_id")


@admin.register(Note)
class NoteAdmin(CrmImportExportMixin, GuardedChangeListMixin, admin.ModelAdmin):
    resource_classes = [NoteResource]
    list_display = ("customer", "kind", "priority", "pinned", "follow_up_on", "done", "created_at")
    list_filter = ("kind", "priority", "pinned", "done")
    search_fields = ("customer__email", "customer__last_name")
    list_select_related = ("customer",)
    autocomplete_fields = ("customer",)
    show_full_result_count = False
    readonly_fields = ("author", "created_at")

    def save_model(self, request, obj, form, change):
        if not change:
            obj.author = request.user
        super().save_model(request, obj, form, change)


@admin.register(Address)
class AddressAdmin(CrmImportExportMixin, GuardedChangeListMixin, admin.ModelAdmin):
    resource_classes = [AddressResource]
    list_display = ("customer", "kind", "line1", "city", "country", "verification_status")
    # The countries in use, as before (not every ISO country).
    list_filter = ("verification_status", "kind", ("country", CountryFilter))
    search_fields = ("customer__email", "customer__last_name", "line1", "city", "postal_code")
    list_select_related = ("customer",)
    autocomplete_fields = ("customer",)
    show_full_result_count = False
    readonly_fields = ("verified_by", "verified_at", "created_at")


from customers.analytics import admin as analytics_admin  # noqa: E402,F401 - AnalyticsRun admin
