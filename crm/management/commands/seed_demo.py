from django.core.management.base import BaseCommand

from communications import demo as communications_demo
from core import sql
from customers import demo as customers_demo
from loyalty import demo as loyalty_demo


class Command(BaseCommand):
    help = (
        "Load a demo shop: customers, orders, addresses, notes and tags, then a loyalty program "
        "with tiers, rewards and members, then contacts, campaigns and tickets. Each part is "
        "loaded once; a second run does nothing."
    )

    def add_arguments(self, parser):
        size = customers_demo.DemoSize
        parser.add_argument("--customers", type=int, default=size.customers)
        parser.add_argument("--orders", type=int, default=size.orders)
        parser.add_argument("--days", type=int, default=size.days, help="History length.")
        parser.add_argument("--seed", type=int, default=42)

    def handle(self, *args, customers, orders, days, seed, **options):
        if customers_demo.demo_present():
            self.stdout.write("Demo customers and orders are already loaded.")
        else:
            size = customers_demo.DemoSize(customers=customers, orders=orders, days=days)
            self._report("Customers", customers_demo.demo_data_create(size=size, seed=seed))
        # The demo's customers and orders were written in bulk: the planner learns of them
        # before loyalty and communications query them.
        sql.statistics_refresh()
        if loyalty_demo.demo_present():
            self.stdout.write("The demo loyalty program is already loaded.")
        else:
            self._report("Loyalty", loyalty_demo.loyalty_demo_create(seed=seed))
        sql.statistics_refresh()
        if communications_demo.demo_present():
            self.stdout.write("The demo communications are already loaded.")
        else:
            self._report(
                "Communications", communications_demo.communications_demo_create(seed=seed)
            )

    def _report(self, part, created):
        summary = ", ".join(f"{count} {name}" for name, count in created.items())
        self.stdout.write(self.style.SUCCESS(f"{part} demo loaded: {summary}."))
