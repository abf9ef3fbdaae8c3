"""Import and export resources of the customers app (docs/import-export.md)."""

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db.models import Prefetch, Q, prefetch_related_objects
from django.db.models.functions import Lower
from import_export import fields, widgets

from core.imports import widgets as crm_widgets
from core.imports.resources import CrmResource
from customers.models import Address, Customer, CustomerTag, Note, Tag

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


class CustomerResource(CrmResource):
    """Customers, matched by external_id, else email (any letter case), else phone. Tags are a
    comma-separated column (added, never removed, by an import); the default shipping address
    is six columns; ``note`` adds a note unless the customer has one with the same text; the
    imported history (``imported_total_spent``, ``imported_total_orders``: what another system
    counted, not orders) is kept in ``attributes``."""

    column_aliases = SHOPIFY_COLUMNS

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

    # -- finding customers --------------------------------------------------------------------

    def row_keys(self, row):
        keys = []
        for key, value in super().row_keys(row):
            if key == "phone":
                value = value.as_e164
            keys.append((key, value))
        return keys

    def existing_lookup(self, keys):
        wanted: dict[str, set] = {"external_id": set(), "email": set(), "phone": set()}
        for key, value in keys:
            wanted[key].add(value)
        # One query for the customers of the batch, one each for their tags, addresses, notes.
        customers = list(
            Customer.objects.alias(email_lower=Lower("email")).filter(
                Q(external_id__in=wanted["external_id"])
                | Q(email_lower__in=wanted["email"])
                | Q(phone__in=wanted["phone"])
            )
            if any(wanted.values())
            else []
        )
        prefetch_related_objects(customers, *self.get_queryset()._prefetch_related_lookups, "notes")
        found = {}
        for customer in customers:
            for key, value in (
                ("phone", customer.phone.as_e164 if customer.phone else ""),
                ("email", customer.email.lower()),
                ("external_id", customer.external_id),
            ):
                if value:
                    found[(key, value)] = customer
        return found

    # -- importing ---------------------------------------------------------------------------

    def import_instance(self, instance, row, **kwargs):
        problems = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as error:
            problems = error.update_error_dict(problems)
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
            extras["address"] = {
                field: getattr(address, field) for field in address_values if address_values
            }
        instance._import_extras = extras
        if problems:
            raise ValidationError(problems)

    def snapshot(self, instance):
        extras = getattr(instance, "_import_extras", None)
        if extras is None:  # before the row is read: what the customer has
            return (*super().snapshot(instance), "")
        has = {tag.name.casefold() for tag in instance.tags.all()} if instance.pk else set()
        default = (getattr(instance, "default_addresses", None) or [None])[0]
        unchanged = all(name.casefold() in has for name in extras.get("tags", ()))
        if "address" in extras:
            unchanged &= default is not None and all(
                str(getattr(default, field)) == str(value)
                for field, value in extras["address"].items()
            )
        unchanged &= "note" not in extras or (
            bool(instance.pk) and any(note.body == extras["note"] for note in instance.notes.all())
        )
        return (*super().snapshot(instance), "" if unchanged else "changed")

    def after_init_instance(self, instance, new, row, **kwargs):
        instance._import_extras = None
        super().after_init_instance(instance, new, row, **kwargs)
        if new:
            instance.source = Customer.Source.IMPORT

    def bulk_create(self, using_transactions, dry_run, raise_errors, batch_size=None, result=None):
        pending = list(self.create_instances)
        super().bulk_create(using_transactions, dry_run, raise_errors, batch_size, result)
        self._save_extras(pending, result)

    def bulk_update(self, using_transactions, dry_run, raise_errors, batch_size=None, result=None):
        pending = list(self.update_instances)
        super().bulk_update(using_transactions, dry_run, raise_errors, batch_size, result)
        self._save_extras(pending, result)

    def _save_extras(self, customers, result) -> None:
        """Tags, default addresses and notes of a batch, a few statements for the batch."""
        customers = [c for c in customers if c.pk and getattr(c, "_import_extras", None)]
        if not customers or (result is not None and result.has_errors()):
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
            CustomerTag.objects.bulk_create(
                [
                    CustomerTag(customer=customer, tag=tags[name.casefold()])
                    for customer in customers
                    for name in customer._import_extras.get("tags", ())
                ],
                ignore_conflicts=True,
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
