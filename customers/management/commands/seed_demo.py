from django.core.management.base import BaseCommand

from customers.demo import DemoSize, demo_data_create, demo_present


class Command(BaseCommand):
    help = (
        "Load demo customers, orders, addresses, notes and tags (once; a second run does nothing)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=DemoSize.customers)
        parser.add_argument("--orders", type=int, default=DemoSize.orders)
        parser.add_argument("--days", type=int, default=DemoSize.days, help="History length.")
        parser.add_argument("--seed", type=int, default=42)

    def handle(self, *args, customers, orders, days, seed, **options):
        if demo_present():
            self.stdout.write("Demo data is already loaded; nothing to do.")
            return
        created = demo_data_create(
            size=DemoSize(customers=customers, orders=orders, days=days), seed=seed
        )
        summary = ", ".join(f"{count} {name}" for name, count in created.items())
        self.stdout.write(self.style.SUCCESS(f"Demo data loaded: {summary}."))
