"""Import and export resources of the customers app (docs/import-export.md)."""

import json
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connections
from django.db.models import Prefetch, Q
from django.db.models.functions import Lower
from django.utils import timezone
from import_export import fields, widgets
from phonenumber_field.phonenumber import PhoneNumber

from core.exports.copy import field_sql, order_sql, safe_sql
from core.imports import widgets as crm_widgets
from core.imports.errors import file_row
from core.imports.resources import CrmResource, update_from_values
from core.imports.setbased import CopyWriter, SetBasedImportMixin
from core.sql import ids_select, insert_for_each
from customers import services
from customers.models import Address, Customer, CustomerTag, Note, Order, OrderItem, Tag
from customers.services import normalize_email

# The default address as columns: (column, Address field).
ADDRESS_COLUMNS = (
    ("address_line1", "line1"),
    ("address_line2", "line2"),
    ("address_city", "city"),
    ("address_region", "region"),
    ("address_postal_code", "postal_code"),
    ("address_country", "country"),
)
# Shopify's customer export, current and older layouts: its header -> our column. Columns not
# listed (Province, Country, Default Address Phone, Tax Exempt) are not imported.
SHOPIFY_COLUMNS = {
    "Customer ID": "external_id",
    "Accepts Email Marketing": "accepts_email",
    "Accepts Marketing": "accepts_email",
    "Accepts SMS Marketing": "accepts_sms",
    "Default Address Company": "company",
    "Default Address Address1": "address_line1",
    "Address1": "address_line1",
    "Default Address Address2": "address_line2",
    "Address2": "address_line2",
    "Default Address City": "address_city",
    "City": "address_city",
    "Default Address Province Code": "address_region",
    "Province Code": "address_region",
    "Default Address Country Code": "address_country",
    "Country Code": "address_country",
    "Default Address Zip": "address_postal_code",
    "Zip": "address_postal_code",
    "Total Spent": "imported_total_spent",
    "Total Orders": "imported_total_orders",
}


class CustomerResource(SetBasedImportMixin, CrmResource):
    """Customers, matched by external_id, else email (any letter case), else, for a row with
    neither, phone. Tags are a comma-separated column (added, never removed, by an import); the
    default shipping address is six columns; ``note`` adds a note unless the customer has one
    with the same text; the imported history (``imported_total_spent``,
    ``imported_total_orders``: what another system counted, not orders) is kept in
    ``attributes``. Imported set-based, a batch at a time (core/imports/setbased.py)."""

    column_aliases = SHOPIFY_COLUMNS
    unique_keys = ("external_id", "email")

    tags = fields.Field(column_name="tags", widget=crm_widgets.ListWidget())
    note = fields.Field(column_name="note")
    imported_total_spent = fields.Field(column_name="imported_total_spent")
    imported_total_orders = fields.Field(column_name="imported_total_orders")

    class Meta:
        model = Customer
        fields = (
            "external_id",
            "first_name",
            "last_name",
            "email",
            "phone",
            "phone_extension",
            "company",
            "date_of_birth",
            "gender",
            "customer_type",
            "source",
            "status",
            "accepts_email",
            "accepts_sms",
            "accepts_phone",
            "accepts_push",
            "do_not_contact",
            "can_receive_offers",
            "can_receive_loyalty",
            "preferred_channel",
            "preferred_payment",
            "tags",
            "note",
            "imported_total_spent",
            "imported_total_orders",
        )
        import_id_fields = ("external_id", "email", "phone")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        for column, _ in ADDRESS_COLUMNS:
            self.fields[column] = fields.Field(column_name=column, widget=widgets.CharWidget())
        # Export in the order of the file: the address after the customer's own columns.
        self.fields = dict(self.fields)

    # -- export ----------------------------------------------------------------------------

    def get_queryset(self):
        return Customer.objects.order_by("pk").prefetch_related(
            Prefetch("tags", queryset=Tag.objects.order_by("name")),
            Prefetch(
                "addresses",
                queryset=Address.objects.filter(is_default=True, kind=Address.Kind.SHIPPING),
                to_attr="default_addresses",
            ),
        )

    def export_field(self, field, instance, **kwargs):
        column = field.column_name
        if column == "tags":
            return ", ".join(tag.name for tag in instance.tags.all())
        if column == "note":
            return ""
        if column.startswith("imported_"):
            return str((instance.attributes or {}).get(column, ""))
        address = dict(ADDRESS_COLUMNS).get(column)
        if address:
            default = (getattr(instance, "default_addresses", None) or [None])[0]
            return str(getattr(default, address, "") or "") if default else ""
        return super().export_field(field, instance, **kwargs)

    def export_sql(self, queryset, export_fields=None):
        """The export as one SELECT for ``COPY`` (core/exports/copy.py): each customer with
        their default shipping address and their tags in name order, as ``export_field``
        writes them, in the queryset's order (``order_sql``). None off PostgreSQL."""
        connection = connections[queryset.db]
        if connection.vendor != "postgresql":
            return None
        quote = connection.ops.quote_name
        extra = {
            "tags": safe_sql("tg.names"),
            "note": "NULL",
            **{
                column: safe_sql(f"c.attributes ->> '{column}'")
                for column in ("imported_total_spent", "imported_total_orders")
            },
            **{
                column: safe_sql(f"a.{quote(Address._meta.get_field(field).column)}::text")
                for column, field in ADDRESS_COLUMNS
            },
        }
        fields_ = self.get_export_fields(export_fields)
        columns = []
        for field in fields_:
            sql = extra.get(field.column_name)
            if sql is None:
                sql = field_sql(Customer._meta.get_field(field.attribute), "c", quote)
            if sql is None:
                return None
            columns.append(sql)
        chosen, params = ids_select(queryset)
        sql = (
            f"SELECT {', '.join(columns)} FROM {quote(Customer._meta.db_table)} c "
            f"LEFT JOIN {quote(Address._meta.db_table)} a ON a.customer_id = c.id "
            f"AND a.is_default AND a.kind = %s "
            "LEFT JOIN LATERAL (SELECT string_agg(t.name, ', ' ORDER BY t.name) AS names "
            f"FROM {quote(CustomerTag._meta.db_table)} ct "
            f"JOIN {quote(Tag._meta.db_table)} t ON t.id = ct.tag_id "
            "WHERE ct.customer_id = c.id) tg ON true "
            f"WHERE c.id IN ({chosen}) ORDER BY {order_sql(queryset, 'c', quote)}"
        )
        return sql, (Address.Kind.SHIPPING.value, *params), [f.column_name for f in fields_]

    # -- importing (set-based: core/imports/setbased.py) ----------------------------------

    def row_keys_of(self, values):
        keys = []
        if values.get("external_id"):
            keys.append(("external_id", values["external_id"]))
        if values.get("email"):
            keys.append(("email", normalize_email(values["email"])))
        phone = values.get("phone")
        if not keys and isinstance(phone, PhoneNumber):
            # Shared by families and front desks: a phone names the customer only of a row with
            # neither an external ID nor an email.
            keys.append(("phone", phone.as_e164))
        return keys

    def existing_lookup(self, keys):
        wanted: dict[str, set] = {"external_id": set(), "email": set(), "phone": set()}
        for key, value in keys:
            wanted[key].add(value)
        # One indexed query per key the batch names, only for the keys the earlier queries left
        # unfound (an OR of the three would read the whole table; the unique indexes of
        # external_id and email leave out blanks, so must the queries), then one each for the
        # customers' tags, addresses and notes.
        found: dict[tuple[str, str], Customer] = {}
        for key, condition in (
            ("external_id", lambda values: ~Q(external_id="") & Q(external_id__in_array=values)),
            ("email", lambda values: ~Q(email="") & Q(email_lower__in_array=values)),
            ("phone", lambda values: Q(phone__in_array=values)),
        ):
            values = [value for value in wanted[key] if (key, value) not in found]
            if not values:
                continue
            # Oldest first: a phone number several customers share finds the first of them.
            query = (
                Customer.objects.alias(email_lower=Lower("email"))
                .filter(condition(values))
                .order_by("pk")
            )
            for customer in query:
                if customer.phone:  # checked once, not again by each comparison
                    checked = crm_widgets.CheckedPhoneNumber()
                    checked.merge_from(customer.phone)
                    customer.phone = checked
                for pair in self._keys(customer):
                    found.setdefault(pair, customer)
        # What each found customer has, in one query each: their tags, notes, default address.
        customers = {customer.pk: customer for customer in found.values()}
        has = {pk: {"tags": set(), "notes": set(), "address": None} for pk in customers}
        if customers:
            tagged = CustomerTag.objects.filter(customer_id__in_array=list(customers))
            for pk, name in tagged.values_list("customer_id", "tag__name"):
                has[pk]["tags"].add(name.casefold())
            notes = Note.objects.filter(customer_id__in_array=list(customers))
            for pk, body in notes.values_list("customer_id", "body"):
                has[pk]["notes"].add(body)
            for address in Address.objects.filter(
                customer_id__in_array=list(customers), kind=Address.Kind.SHIPPING, is_default=True
            ):
                has[address.customer_id]["address"] = address
        for pk, customer in customers.items():
            customer.import_has = has[pk]
        return found

    @staticmethod
    def _keys(customer: Customer) -> list[tuple[str, str]]:
        """The natural keys a customer is found by, as (key, value), blanks left out."""
        keys = [
            ("phone", customer.phone.as_e164 if customer.phone else ""),
            ("email", customer.email.lower()),
            ("external_id", customer.external_id),
        ]
        return [(key, value) for key, value in keys if value]

    def new_instance(self):
        return Customer(source=Customer.Source.IMPORT)

    def import_extras(self, instance, row, problems):
        """Tags, the note, the imported history and the default address of a row."""
        extras = {}
        if "tags" in row:
            extras["tags"] = self.fields["tags"].clean(row)
        note = str(row.get("note") or "").strip()
        if note:
            extras["note"] = note
        attributes = dict(instance.attributes or {})
        for column in ("imported_total_spent", "imported_total_orders"):
            value = str(row.get(column) or "").strip()
            if not value:
                continue
            try:
                number = Decimal(value.replace(",", ""))
                if not number.is_finite() or number < 0:
                    raise InvalidOperation
            except InvalidOperation:
                problems[column] = [f"'{value}' is not an amount of 0 or more"]
                continue
            attributes[column] = str(number) if column.endswith("spent") else int(number)
        if attributes != (instance.attributes or {}):
            extras["history_changed"] = True
        instance.attributes = attributes
        address_values = {
            field: str(row.get(column) or "").strip()
            for column, field in ADDRESS_COLUMNS
            if column in row
        }
        if any(address_values.values()):
            address = Address(kind=Address.Kind.SHIPPING, is_default=True, **address_values)
            try:
                address.full_clean(exclude=["customer"], validate_constraints=False)
            except ValidationError as error:
                columns = {field: column for column, field in ADDRESS_COLUMNS}
                for field, messages in error.message_dict.items():
                    problems[columns.get(field, field)] = messages
            extras["address"] = {field: getattr(address, field) for field in address_values}
        instance._import_extras = extras

    def extras_unchanged(self, instance) -> bool:
        """Whether the row's tags, address and note are all there already (an import adds
        tags and notes, never removes them)."""
        extras, has = instance._import_extras, instance.import_has
        unchanged = all(name.casefold() in has["tags"] for name in extras.get("tags", ()))
        if "address" in extras:
            default = has["address"]
            unchanged &= default is not None and all(
                str(getattr(default, field)) == str(value)
                for field, value in extras["address"].items()
            )
        if "note" in extras:
            unchanged &= extras["note"] in has["notes"]
        return unchanged and not extras.get("history_changed")

    def varying_names(self, names):
        """What import_extras and the model's normalising may set, besides the file's columns."""
        return sorted({*names, "attributes", "phone_extension"})

    def insert_writer(self, names, expected):
        varying = self.varying_names(names)
        template = self.new_instance()
        for field in Customer._meta.concrete_fields:
            field.pre_save(template, add=True)  # created_at and updated_at: now
        constant = {
            field.attname: getattr(template, field.attname)
            for field in Customer._meta.concrete_fields
            if not field.primary_key and field.name not in varying
        }
        return CopyWriter(Customer, varying, constant, expected)

    def write_batch(self, created, updated, names):
        varying = self.varying_names(names)
        if updated:
            now = timezone.now()
            for customer in updated:
                customer.updated_at = now
            protected = set(Customer.protected_fields)
            update_from_values(
                Customer, updated, [*(n for n in varying if n not in protected), "updated_at"]
            )
        self._save_extras([*created, *updated])

    def _save_extras(self, customers) -> None:
        """Tags, default addresses and notes of a batch, a few statements for the batch."""
        customers = [c for c in customers if c.pk and getattr(c, "_import_extras", None)]
        if not customers:
            return
        names = {}
        for customer in customers:
            for name in customer._import_extras.get("tags", ()):
                names.setdefault(name.casefold(), name)
        tags = {}
        if names:
            tags = {
                tag.name.casefold(): tag
                for tag in Tag.objects.alias(name_lower=Lower("name")).filter(
                    name_lower__in=list(names)
                )
            }
            for key, name in names.items():
                if key not in tags:
                    tag = Tag(name=name)
                    tag.full_clean()
                    tag.save()
                    tags[key] = tag
            tagged: dict[str, list[int]] = {}
            for customer in customers:
                present = getattr(customer, "import_has", {}).get("tags", ())
                for name in customer._import_extras.get("tags", ()):
                    if name.casefold() not in present:
                        tagged.setdefault(name.casefold(), []).append(customer.pk)
            now = timezone.now()
            for key, ids in tagged.items():  # one INSERT … SELECT per tag
                insert_for_each(
                    model=CustomerTag,
                    field="customer",
                    queryset=Customer.objects.filter(pk__in_array=ids),
                    values={"tag": tags[key], "added_at": now, "added_by": self.import_user},
                    unique=("customer", "tag"),
                )
        with_address = [c for c in customers if "address" in c._import_extras]
        if with_address:
            defaults = {
                address.customer_id: address
                for address in Address.objects.filter(
                    customer__in=with_address, kind=Address.Kind.SHIPPING, is_default=True
                )
            }
            changed, added = [], []
            for customer in with_address:
                values = customer._import_extras["address"]
                address = defaults.get(customer.pk)
                if address is None:
                    added.append(
                        Address(
                            customer=customer,
                            kind=Address.Kind.SHIPPING,
                            is_default=True,
                            **values,
                        )
                    )
                elif any(getattr(address, field) != value for field, value in values.items()):
                    for field, value in values.items():
                        setattr(address, field, value)
                    changed.append(address)
            Address.objects.bulk_create(added)
            if changed:
                Address.objects.bulk_update(changed, [field for _, field in ADDRESS_COLUMNS])
        with_note = [c for c in customers if "note" in c._import_extras]
        if with_note:
            existing = set(
                Note.objects.filter(customer__in=with_note).values_list("customer_id", "body")
            )
            Note.objects.bulk_create(
                [
                    Note(customer=customer, body=customer._import_extras["note"])
                    for customer in with_note
                    if (customer.pk, customer._import_extras["note"]) not in existing
                ]
            )


# Orders ----------------------------------------------------------------------------------------

CENT = Decimal("0.01")
ORDER_ITEM_KEYS = ("sku", "product_name", "category", "quantity", "unit_price", "line_total")
LOOKUP_CHUNK = 1000


def _customer_key(customer: Customer) -> str:
    """How a file names a customer: the external ID, else the email."""
    return customer.external_id or customer.email


class OrderCustomerWidget(widgets.Widget):
    """A customer named by external ID, else by email in any letter case. The resource loads
    every customer the file names before the rows are read (``customers``), two queries a chunk."""

    def __init__(self):
        super().__init__()
        self.customers: dict[str, Customer] = {}

    def load(self, keys: Iterable[str]) -> None:
        keys = sorted({str(key).strip().lstrip("'") for key in keys if str(key or "").strip()})
        found: dict[str, Customer] = {}
        for start in range(0, len(keys), LOOKUP_CHUNK):
            chunk = keys[start : start + LOOKUP_CHUNK]
            emails = [normalize_email(key) for key in chunk if "@" in key]
            for customer in Customer.objects.filter(external_id__in=chunk).only(
                "pk", "external_id", "email"
            ):
                found[customer.external_id] = customer
            for customer in (
                Customer.objects.alias(email_lower=Lower("email"))
                .filter(email_lower__in=emails)
                .only("pk", "external_id", "email")
            ):
                found.setdefault(normalize_email(customer.email), customer)
        self.customers = found

    def clean(self, value, row=None, **kwargs):
        key = str(value or "").strip()
        if not key:
            raise ValueError("Enter the customer's external ID or email.")
        customer = self.customers.get(key) or self.customers.get(normalize_email(key))
        if customer is None:
            customer = (
                Customer.objects.filter(external_id=key).first()
                or Customer.objects.alias(email_lower=Lower("email"))
                .filter(email_lower=normalize_email(key))
                .exclude(email="")
                .first()
            )
        if customer is None:
            raise ValueError(f"no customer has the external ID or email “{key}”.")
        return customer

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else _customer_key(value)


class OrderStatusWidget(widgets.Widget):
    """An order status by its value or its label, in any letter case."""

    def clean(self, value, row=None, **kwargs):
        text = str(value or "").strip().casefold()
        if not text:
            return Order.Status.PENDING
        for choice in Order.Status:
            if text in (choice.value, choice.label.casefold()):
                return choice.value
        known = ", ".join(Order.Status.values)
        raise ValueError(f"“{value}” is not an order status ({known}).")

    def render(self, value, obj=None, **kwargs):
        return value or ""


class OrderItemsWidget(widgets.Widget):
    """The order's lines as a JSON list, one object per line: sku, product_name, category,
    quantity, unit_price and line_total (the quantity times the unit price when left out)."""

    def clean(self, value, row=None, **kwargs):
        text = str(value or "").strip()
        if not text:
            return None
        try:
            lines = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(
                f"not valid JSON ({error.msg} at character {error.pos + 1})."
            ) from None
        if not isinstance(lines, list) or not all(isinstance(line, dict) for line in lines):
            raise ValueError('enter a JSON list of lines, such as [{"sku": "A1", ...}].')
        return [order_item_line(line, number) for number, line in enumerate(lines, 1)]

    def render(self, value, obj=None, **kwargs):
        if not value:
            return ""
        return json.dumps(
            [
                {
                    key: str(line[key]) if isinstance(line[key], Decimal) else line[key]
                    for key in ORDER_ITEM_KEYS
                }
                for line in value
            ],
            ensure_ascii=False,
        )


def order_item_line(line: dict, number: int = 1) -> dict:
    """One item line read and checked as the order's items are stored."""
    unknown = set(line) - set(ORDER_ITEM_KEYS)
    if unknown:
        raise ValueError(f"line {number}: unknown keys {', '.join(sorted(unknown))}.")
    try:
        quantity = int(str(line.get("quantity", 1)).strip())
        unit_price = Decimal(str(line.get("unit_price", "")).strip())
        line_total = (
            Decimal(str(line["line_total"]).strip())
            if line.get("line_total") not in (None, "")
            else unit_price * quantity
        )
    except (ArithmeticError, ValueError):
        raise ValueError(
            f"line {number}: quantity, unit_price and line_total must be numbers."
        ) from None
    item = OrderItem(
        sku=str(line.get("sku") or "").strip(),
        product_name=str(line.get("product_name") or "").strip(),
        category=str(line.get("category") or "").strip(),
        quantity=quantity,
        unit_price=unit_price,
        line_total=line_total,
    )
    try:
        item.full_clean(exclude=["order"])
    except ValidationError as error:
        problems = "; ".join(
            f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items()
        )
        raise ValueError(f"line {number}: {problems}") from None
    return {
        "sku": item.sku,
        "product_name": item.product_name,
        "category": item.category,
        "quantity": item.quantity,
        "unit_price": item.unit_price.quantize(CENT),
        "line_total": item.line_total.quantize(CENT),
    }


class OrderResource(CrmResource):
    """Orders, one row each, their item lines as JSON in the ``items`` column
    (docs/import-export.md, "Importing orders"). An order is known by its number; its
    customer by external ID or email.

    New orders are inserted in bulk, then ``orders_bulk_sync`` adds the delivered ones to their
    customers' stats and lets loyalty award their points, as one-by-one deliveries would. An
    existing order's status moves through ``order_set_status`` (the allowed moves, the stats and
    points of a return); a delivered order's customer, amounts and date are not changed by a file.
    """

    customer = fields.Field(
        attribute="customer", column_name="customer", widget=OrderCustomerWidget()
    )
    status = fields.Field(attribute="status", column_name="status", widget=OrderStatusWidget())
    items = fields.Field(attribute="import_items", column_name="items", widget=OrderItemsWidget())

    FIXED_WHEN_DELIVERED = ("customer", "placed_at", "total", *Order.AMOUNT_FIELDS, "item_count")

    class Meta:
        model = Order
        fields = (
            "number",
            "customer",
            "status",
            "placed_at",
            "delivered_at",
            "total",
            "discount_total",
            "shipping_total",
            "tax_total",
            "currency",
            "item_count",
            "payment_method",
            "channel",
            "notes",
            "items",
        )
        export_order = fields
        import_id_fields = ("number",)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.status_moves: list[tuple[Order, str]] = []
        self.new_items: dict[str, list[dict]] = {}
        self.customer_ids: set[int] = set()
        self.replaced_items: dict[int, list[dict]] = {}

    def get_queryset(self):
        return super().get_queryset().select_related("customer").prefetch_related("items")

    def before_import(self, dataset, **kwargs):
        super().before_import(dataset, **kwargs)
        if "customer" in dataset.headers:
            self.fields["customer"].widget.load(dataset["customer"])

    def after_init_instance(self, instance, new, row, **kwargs):
        # Before the snapshot of the base class, so unchanged items count as unchanged.
        instance.import_items = None if new else _items_of(instance) or None
        super().after_init_instance(instance, new, row, **kwargs)

    def import_instance(self, instance, row, **kwargs):
        original = {
            name: instance.customer_id if name == "customer" else getattr(instance, name)
            for name in ("status", *self.FIXED_WHEN_DELIVERED)
        }
        errors = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as error:
            errors = error.update_error_dict(errors)
        lines = instance.import_items
        if not str(row.get("total") or "").strip():
            instance.total = None  # blank: the items' total, or an error without items
        if lines and "items" not in errors:
            subtotal = sum((line["line_total"] for line in lines), Decimal("0"))
            instance.item_count = sum(line["quantity"] for line in lines)
            if instance.total is None:
                try:
                    instance.total = instance.total_for_items(subtotal)
                except TypeError:  # an amount is not a number: its own error names it
                    instance.total = subtotal
            else:
                instance.items_subtotal = subtotal
        for name in ("total", *Order.AMOUNT_FIELDS):
            amount = getattr(instance, name)
            if name not in errors and isinstance(amount, Decimal) and amount < 0:
                errors[name] = [ValidationError(f"'{amount}' cannot be negative")]
        if instance.total is None and "total" not in errors:
            errors["total"] = [ValidationError("Enter the total, or the items.")]
        if instance.currency in (None, ""):
            instance.currency = settings.CRM_CURRENCY
        if instance._state.adding:
            if instance.status == Order.Status.DELIVERED and instance.delivered_at is None:
                instance.delivered_at = instance.placed_at
        else:
            self._check_update(instance, original, errors)
        if errors:
            raise ValidationError(errors)

    def _check_update(self, instance, original, errors) -> None:
        if original["status"] == Order.Status.DELIVERED:
            for name in self.FIXED_WHEN_DELIVERED:
                now = instance.customer_id if name == "customer" else getattr(instance, name)
                if name not in errors and now != original[name]:
                    errors[name] = [
                        ValidationError(
                            f"order {instance.number} is delivered: its {name.replace('_', ' ')} "
                            "cannot change. Return it first."
                        )
                    ]
        if "status" not in errors:
            try:
                Order.check_transition(original["status"], instance.status)
            except ValidationError as error:
                errors.update(error.update_error_dict({}))
        instance.import_status_from = original["status"]

    def save_instance(self, instance, is_create, row, **kwargs):
        if is_create:
            instance.stats_applied = False  # orders_bulk_sync aligns it with the status
            self.new_items[instance.number] = instance.import_items or []
        else:
            if instance.import_items is not None and instance.import_items != self.dehydrate_items(
                instance
            ):
                self.replaced_items[instance.pk] = instance.import_items
            moved_to = instance.status
            if moved_to != instance.import_status_from:
                instance.status = instance.import_status_from
                self.status_moves.append((instance, moved_to))
        self.customer_ids.add(instance.customer_id)
        super().save_instance(instance, is_create, row, **kwargs)

    def bulk_create(self, using_transactions, dry_run, raise_errors, batch_size=None, result=None):
        orders = list(self.create_instances)
        super().bulk_create(using_transactions, dry_run, raise_errors, batch_size, result)
        lines = [
            OrderItem(order_id=order.pk, **line)
            for order in orders
            if order.pk is not None
            for line in self.new_items.pop(order.number, [])
        ]
        if lines:
            OrderItem.objects.bulk_create(lines, batch_size=batch_size)

    def bulk_update(self, using_transactions, dry_run, raise_errors, batch_size=None, result=None):
        super().bulk_update(using_transactions, dry_run, raise_errors, batch_size, result)
        if self.replaced_items:
            OrderItem.objects.filter(order_id__in=list(self.replaced_items)).delete()
            OrderItem.objects.bulk_create(
                [
                    OrderItem(order_id=order_id, **line)
                    for order_id, lines in self.replaced_items.items()
                    for line in lines
                ],
                batch_size=batch_size,
            )
            self.replaced_items.clear()

    def after_import(self, dataset, result, **kwargs):
        super().after_import(dataset, result, **kwargs)
        if result.has_errors() or kwargs.get("dry_run"):
            return  # rolled back: nothing to count
        for order, status in self.status_moves:
            services.order_set_status(order=order, status=status)
        if self.customer_ids:
            services.orders_bulk_sync(customer_ids=self.customer_ids)

    def dehydrate_items(self, order: Order) -> str:
        return self.fields["items"].widget.render(_items_of(order))


def _items_of(order: Order) -> list[dict]:
    return [_item_dict(item) for item in order.items.all()]


def _item_dict(item: OrderItem) -> dict:
    return {
        "sku": item.sku,
        "product_name": item.product_name,
        "category": item.category,
        "quantity": item.quantity,
        "unit_price": Decimal(item.unit_price).quantize(CENT),
        "line_total": Decimal(item.line_total).quantize(CENT),
    }


# Addresses, notes and tags --------------------------------------------------------------------


def customer_field() -> fields.Field:
    """The ``customer`` column: the customer's external ID, else their email in any case."""
    return fields.Field(attribute="customer", column_name="customer", widget=OrderCustomerWidget())


class CustomerPartResource(CrmResource):
    """A record of one customer (an address, a note), its customer named by external ID, else
    email. A row names an existing record by its ``id`` (as exported), else by
    ``natural_key``; an id that names no record of that customer is refused. Every customer the
    file names is loaded before the rows are read, a few queries in all."""

    customer = customer_field()
    # The model fields that, with the customer, tell one record from another without an id.
    natural_key: tuple[str, ...] = ()

    def before_import(self, dataset, **kwargs):
        super().before_import(dataset, **kwargs)
        if "customer" in dataset.headers:
            self.fields["customer"].widget.load(dataset["customer"])

    def get_queryset(self):
        return super().get_queryset().select_related("customer")

    def _row_customer(self, row) -> Customer | None:
        try:
            return self.fields["customer"].clean(row)
        except (ValueError, KeyError):
            return None

    def _row_id(self, row) -> int | None:
        text = str(row.get("id") or "").strip()
        return int(text) if text.isdigit() else None

    def natural_value(self, record_or_row, customer_id: int) -> tuple:
        """The natural key of a record, or of a row (a dict), compared trimmed in any case."""
        if isinstance(record_or_row, dict):
            values = [record_or_row.get(self.fields[name].column_name) for name in self.natural_key]
        else:
            values = [getattr(record_or_row, name) for name in self.natural_key]
        return (customer_id, *(str(value or "").strip().casefold() for value in values))

    def row_keys(self, row):
        record_id = self._row_id(row)
        if record_id is not None:
            return [("id", record_id)]
        customer = self._row_customer(row)
        if customer is None:
            return []
        return [("customer", self.natural_value(row, customer.pk))]

    def check_duplicate(self, row) -> None:
        for key in self.row_keys(row):
            earlier = self._seen.setdefault(key, self._row_index)
            if earlier != self._row_index:
                kind = self._meta.model._meta.verbose_name
                said = f"{kind} {key[1]}" if key[0] == "id" else f"this customer's {kind}"
                raise ValidationError({key[0]: f"{said} is already in row {file_row(earlier)}"})

    def existing_lookup(self, keys):
        ids = {value for key, value in keys if key == "id"}
        naturals = {(key, value) for key, value in keys if key != "id"}
        found = {}
        if ids:
            for record in self.get_queryset().filter(pk__in=ids):
                found[("id", record.pk)] = record
        if naturals:
            customer_ids = {value[0] for _, value in naturals}
            for record in self.get_queryset().filter(customer_id__in=customer_ids):
                for key, value in naturals:
                    if value == self.natural_value(record, record.customer_id):
                        found.setdefault((key, value), record)
        return found

    def import_instance(self, instance, row, **kwargs):
        problems = {}
        record_id = self._row_id(row)
        if str(row.get("id") or "").strip() and record_id is None:
            problems["id"] = [f"'{row['id']}' is not a number; leave it blank for a new record"]
        elif record_id is not None and instance._state.adding:
            problems["id"] = [
                f"there is no {self._meta.model._meta.verbose_name} {record_id}; "
                "leave the id blank to add one"
            ]
        customer_before = None if instance._state.adding else instance.customer_id
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as error:
            problems = error.update_error_dict(problems)
        moved = customer_before not in (None, instance.customer_id)
        if moved and "customer" not in problems:
            kind = self._meta.model._meta.verbose_name
            problems["customer"] = [f"{kind} {instance.pk} belongs to another customer"]
        if problems:
            raise ValidationError(problems)

    def import_field(self, field, instance, row, is_m2m=False, **kwargs):
        if field.attribute == "id":
            return  # ids name records; they are never written
        super().import_field(field, instance, row, is_m2m, **kwargs)

    def dehydrate_customer(self, record) -> str:
        return _customer_key(record.customer)


class AddressResource(CustomerPartResource):
    """Addresses, one row each (docs/import-export.md, "Other records"). Without an id, an
    address is the same as one of its customer's with the same kind, first line and postal code.
    An address imported as default replaces its customer's default of that kind."""

    natural_key = ("kind", "line1", "postal_code")

    class Meta:
        model = Address
        fields = (
            "id",
            "customer",
            "kind",
            "line1",
            "line2",
            "city",
            "region",
            "postal_code",
            "country",
            "is_default",
            "latitude",
            "longitude",
        )
        export_order = fields
        import_id_fields = ("id",)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.default_rows: dict[tuple[int, str], int] = {}

    def import_instance(self, instance, row, **kwargs):
        problems = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as error:
            problems = error.update_error_dict(problems)
        if instance.is_default and instance.customer_id and "is_default" not in problems:
            earlier = self.default_rows.setdefault(
                (instance.customer_id, instance.kind), self._row_index
            )
            if earlier != self._row_index:
                problems["is_default"] = [
                    f"row {file_row(earlier)} is already this customer's default "
                    f"{instance.kind} address"
                ]
        if problems:
            raise ValidationError(problems)

    def _clear_other_defaults(self, addresses) -> None:
        """Take the default off the addresses the file's defaults replace."""
        replaced = Q()
        for address in addresses:
            if address.is_default:
                replaced |= Q(customer_id=address.customer_id, kind=address.kind)
        if replaced:
            keep = [address.pk for address in addresses if address.pk]
            Address.objects.filter(replaced, is_default=True).exclude(pk__in=keep).update(
                is_default=False
            )

    def bulk_create(self, using_transactions, dry_run, raise_errors, batch_size=None, result=None):
        if self.create_instances and (using_transactions or not dry_run):
            self._clear_other_defaults(self.create_instances)
        super().bulk_create(using_transactions, dry_run, raise_errors, batch_size, result)

    def bulk_update(self, using_transactions, dry_run, raise_errors, batch_size=None, result=None):
        if self.update_instances and (using_transactions or not dry_run):
            self._clear_other_defaults(self.update_instances)
        super().bulk_update(using_transactions, dry_run, raise_errors, batch_size, result)


class NoteResource(CustomerPartResource):
    """Notes, one row each. Without an id, a note is the same as one of its customer's with the
    same text (so a file imported twice adds nothing). The author and the time are exported,
    not imported: an imported note has no author."""

    natural_key = ("body",)
    created_at = fields.Field(
        attribute="created_at",
        column_name="created_at",
        readonly=True,
        widget=widgets.DateTimeWidget(),
    )
    author = fields.Field(attribute="author__username", column_name="author", readonly=True)

    class Meta:
        model = Note
        fields = (
            "id",
            "customer",
            "kind",
            "priority",
            "pinned",
            "body",
            "follow_up_on",
            "done",
            "created_at",
            "author",
        )
        export_order = fields
        import_id_fields = ("id",)

    def get_queryset(self):
        return super().get_queryset().select_related("author")


class TagResource(CrmResource):
    """Tags by name, in any letter case. A new tag's slug is made from its name."""

    column_aliases = {"tag": "name"}

    class Meta:
        model = Tag
        fields = ("name", "color", "description")
        export_order = fields
        import_id_fields = ("name",)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.slugs: set[str] = set()

    def row_keys(self, row):
        name = str(row.get("name") or "").strip()
        return [("name", name.casefold())] if name else []

    def existing_lookup(self, keys):
        names = {value for _, value in keys}
        if not names:
            return {}
        found = Tag.objects.alias(name_lower=Lower("name")).filter(name_lower__in=names)
        return {("name", tag.name.casefold()): tag for tag in found}

    def before_save_instance(self, instance, row, **kwargs):
        super().before_save_instance(instance, row, **kwargs)
        if instance.pk is None:
            # Two new names of one file may make one slug ("VIP!" and "VIP?").
            slug = instance.slug or Tag.slug_for(instance.name)
            if slug in self.slugs:
                slug = f"{slug}-{len(self.slugs) + 1}"
            instance.slug = slug
            self.slugs.add(slug)
