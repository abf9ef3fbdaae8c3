"""The run records its customers per RFM segment, for the dashboard to read. The latest
succeeded run of an existing database gets the segments as they stand, so the chart does not
wait a night."""

from django.db import migrations, models
from django.db.models import Count


def counts_backfill(apps, schema_editor):
    AnalyticsRun = apps.get_model("customers", "AnalyticsRun")
    Customer = apps.get_model("customers", "Customer")
    run = (
        AnalyticsRun.objects.filter(status="succeeded")
        .order_by(models.F("finished_at").desc(nulls_last=True), "-created_at", "-id")
        .first()
    )
    if run is None:
        return
    rows = (
        Customer.objects.exclude(rfm_segment="")
        .order_by()
        .values_list("rfm_segment")
        .annotate(customers=Count("id"))
    )
    run.segment_counts = dict(rows)
    run.save(update_fields=["segment_counts"])


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0007_scores_all_hot"),
    ]

    operations = [
        migrations.AddField(
            model_name="analyticsrun",
            name="segment_counts",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text="Customers per RFM segment as the run left them, prospects included.",
            ),
        ),
        migrations.RunPython(counts_backfill, migrations.RunPython.noop),
    ]
