from django.db import migrations, models


class Migration(migrations.Migration):
    """One spelling, "enrol": the program's automatic enrolment flag is renamed."""

    dependencies = [
        ("loyalty", "0002_roles_and_nightly_schedule"),
    ]

    operations = [
        migrations.RenameField(
            model_name="loyaltyprogram",
            old_name="auto_enroll",
            new_name="auto_enrol",
        ),
        migrations.AlterField(
            model_name="loyaltyprogram",
            name="auto_enrol",
            field=models.BooleanField(
                default=True,
                help_text="Enrol customers on their first qualifying delivered order.",
                verbose_name="enrol automatically",
            ),
        ),
    ]
