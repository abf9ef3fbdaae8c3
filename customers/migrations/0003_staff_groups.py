"""Once made the staff groups. They are now synced after every migrate from the roles each app
declares on its AppConfig (core/roles.py), so this migration does nothing and imports no live code.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0002_trigram_search"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = []
