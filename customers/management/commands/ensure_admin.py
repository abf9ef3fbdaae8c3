import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the local admin account if it is missing, and print its login."

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("CRM_ADMIN_USERNAME", "admin"))
        parser.add_argument("--password", default=os.environ.get("CRM_ADMIN_PASSWORD", "admin"))
        parser.add_argument("--email", default="admin@example.com")

    def handle(self, *args, username, password, email, **options):
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=username, defaults={"email": email, "is_staff": True, "is_superuser": True}
        )
        if created:
            user.set_password(password)
            user.save(update_fields=["password"])
        shown = password if user.check_password(password) else "(changed since it was created)"
        self.stdout.write(
            self.style.SUCCESS(
                f"Admin login: username {username!r}, password {shown!r} "
                "at http://127.0.0.1:8000/admin/"
            )
        )
