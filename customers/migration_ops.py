"""Small operations shared by the customers app's migrations. Migrations keep using these, so
what a function does here must not change; add a new one instead."""


def customer_fillfactor(value: int):
    """A RunPython function setting the customer table's fillfactor on PostgreSQL (other
    databases have no such setting)."""

    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"ALTER TABLE customers_customer SET (fillfactor = {value})")

    return apply
