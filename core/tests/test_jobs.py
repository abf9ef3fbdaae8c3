import csv
import io
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.urls import reverse
from import_export import resources

from core.imports.reading import csv_records
from core.jobs.services import (
    import_job_create,
    import_job_progress,
    import_job_retry,
    import_job_run,
    import_job_wanted,
    progress_key,
)
from core.models import ImportJob
from customers.models import Tag
from customers.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

RESOURCE = "core.tests.test_jobs.TagImport"
CRASHING = "core.tests.test_jobs.CrashingTagImport"


class TagImport(resources.ModelResource):
    """Tags by name: a small resource to run jobs with."""

    class Meta:
        model = Tag
        fields = ("name", "description")
        import_id_fields = ("name",)
        clean_model_instances = True


class CrashingTagImport(TagImport):
    """Dies after its first batch while ``crash`` is set, as a worker or the database might."""

    crash = True
    batches = 0

    def before_import(self, dataset, **kwargs):
        type(self).batches += 1
        if self.crash and self.batches > 1:
            raise RuntimeError("connection to the database lost")


def tag_file(names: list[str]) -> bytes:
    lines = ["name,description", *(f"{name},imported" for name in names)]
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode()


@pytest.fixture(autouse=True)
def small_batches(settings):
    settings.CRM_IMPORT_JOB_BATCH = 2
    settings.CRM_IMPORT_JOB_THRESHOLD = 5


@pytest.fixture
def user():
    return UserFactory(is_superuser=True)


def start(user, names, resource=RESOURCE, capture=None) -> ImportJob:
    with capture(execute=True):
        job = import_job_create(
            user=user, file_name="tags.csv", data=tag_file(names), resource=resource
        )
    job.refresh_from_db()
    return job


def test_a_file_over_the_threshold_or_one_asked_for_runs_as_a_job():
    assert import_job_wanted(rows=6)
    assert not import_job_wanted(rows=5)
    assert import_job_wanted(rows=1, asked=True)


def test_job_imports_every_batch_and_records_what_it_did(user, django_capture_on_commit_callbacks):
    Tag.objects.create(name="vip", slug="vip")

    job = start(
        user,
        ["vip", "new-a", "new-b", "new-c", "new-d"],
        capture=django_capture_on_commit_callbacks,
    )

    assert job.status == ImportJob.Status.SUCCEEDED, job.error
    assert (job.rows_total, job.rows_done, job.percent) == (5, 5, 100)
    assert (job.rows_new, job.rows_updated) == (4, 1)
    assert job.attempts == 1 and job.started_at <= job.finished_at
    assert set(Tag.objects.values_list("name", flat=True)) == {
        "vip", "new-a", "new-b", "new-c", "new-d",
    }  # fmt: skip
    assert cache.get(progress_key(job.pk)) is None


def test_progress_is_published_after_each_batch_while_the_job_runs(user, monkeypatch):
    job = ImportJob.objects.create(
        created_by=user, file_name="tags.csv", data=tag_file(list("abcde")), resource=RESOURCE
    )
    seen = []
    original_set = cache.set

    def recording_set(key, value, *args, **kwargs):
        if key == progress_key(job.pk):
            seen.append((value, ImportJob.objects.get(pk=job.pk).status))
        return original_set(key, value, *args, **kwargs)

    monkeypatch.setattr(cache, "set", recording_set)

    import_job_run(job_id=job.pk)

    assert seen == [(2, "running"), (4, "running"), (5, "running")]


def test_a_bad_row_mid_file_imports_nothing_and_names_row_and_column(
    user, django_capture_on_commit_callbacks
):
    names = ["first", "second", "third", "x" * 60, "fifth"]

    job = start(user, names, capture=django_capture_on_commit_callbacks)

    assert job.status == ImportJob.Status.FAILED
    assert not Tag.objects.exists()
    assert job.error_count == 1 and job.rows_done == 0
    (error,) = job.errors
    assert error["row"] == 5  # the heading is row 1
    assert error["column"] == "name"
    assert "50 characters" in error["message"]
    assert job.error == "1 error(s): nothing was imported."


def test_a_crash_mid_way_leaves_nothing_and_a_rerun_imports_everything(
    user, django_capture_on_commit_callbacks
):
    CrashingTagImport.crash, CrashingTagImport.batches = True, 0

    job = start(user, list("abcde"), resource=CRASHING, capture=django_capture_on_commit_callbacks)

    assert job.status == ImportJob.Status.FAILED
    assert job.errors[0] == {
        "row": None, "column": "", "message": "connection to the database lost",
    }  # fmt: skip
    assert not Tag.objects.exists()  # the first batch was rolled back with the rest

    CrashingTagImport.crash = False
    with django_capture_on_commit_callbacks(execute=True):
        assert import_job_retry(job=job)
    job.refresh_from_db()

    assert job.status == ImportJob.Status.SUCCEEDED and job.attempts == 2
    assert Tag.objects.count() == 5


def test_an_error_outside_the_rows_rolls_back_and_says_where_it_stopped(user, monkeypatch):
    job = ImportJob.objects.create(
        created_by=user, file_name="tags.csv", data=tag_file(list("abcde")), resource=RESOURCE
    )
    calls = []

    def dying_set(key, value, *args, **kwargs):
        calls.append(value)
        if len(calls) == 2:
            raise ConnectionError("cache went away")

    monkeypatch.setattr(cache, "set", dying_set)

    job = import_job_run(job_id=job.pk)

    assert job.status == ImportJob.Status.FAILED
    assert job.error == "Stopped after 4 rows, nothing was imported: cache went away"
    assert not Tag.objects.exists()


def test_a_job_left_running_by_a_dead_worker_starts_again_and_a_finished_one_is_left(user):
    job = ImportJob.objects.create(
        created_by=user,
        file_name="tags.csv",
        data=tag_file(list("abc")),
        resource=RESOURCE,
        status=ImportJob.Status.RUNNING,
        attempts=1,
        rows_done=2,
    )

    assert import_job_run(job_id=job.pk).status == ImportJob.Status.SUCCEEDED
    assert import_job_run(job_id=job.pk) is None  # delivered twice: nothing more to do
    job.refresh_from_db()
    assert job.attempts == 2 and Tag.objects.count() == 3


def test_an_unreadable_file_fails_the_job_with_why(user):
    job = ImportJob.objects.create(
        created_by=user, file_name="tags.csv", data=b"\xff\xfe\x00bad", resource=RESOURCE
    )

    job = import_job_run(job_id=job.pk)

    assert job.status == ImportJob.Status.FAILED
    assert job.error.startswith("The file cannot be read")


def test_job_page_polls_its_progress_until_it_finishes(client, user):
    job = ImportJob.objects.create(
        created_by=user,
        file_name="tags.csv",
        data=tag_file(list("abcd")),
        resource=RESOURCE,
        status=ImportJob.Status.RUNNING,
        rows_total=4,
    )
    cache.set(progress_key(job.pk), 2)
    client.force_login(user)
    progress_url = reverse("admin:core_importjob_progress", args=[job.pk])

    page = client.get(reverse("admin:core_importjob_change", args=[job.pk]))
    fragment = client.get(progress_url)

    assert page.status_code == 200
    assert f'hx-get="{progress_url}"' in page.content.decode()
    assert 'value="50"' in fragment.content.decode()
    assert "2 of 4 rows" in fragment.content.decode()
    job.rows_total = 12000
    job.save()
    cache.set(progress_key(job.pk), 6000)
    assert "6,000 of 12,000 rows" in client.get(progress_url).content.decode()

    import_job_run(job_id=job.pk)
    done = client.get(progress_url).content.decode()
    assert "hx-get" not in done and "4 new" in done


def test_failed_job_offers_its_errors_as_csv_and_the_list_shows_past_jobs(client, user):
    job = ImportJob.objects.create(
        created_by=user, file_name="tags.csv", data=tag_file(["ok", "=bad" + "x" * 60]),
        resource=RESOURCE,
    )  # fmt: skip
    import_job_run(job_id=job.pk)
    client.force_login(user)

    report = client.get(reverse("admin:core_importjob_report", args=[job.pk]))
    listing = client.get(reverse("admin:core_importjob_changelist"))

    rows = list(csv.reader(io.StringIO(b"".join(report.streaming_content).decode())))
    assert rows[0] == ["row", "column", "error"]
    assert rows[1][:2] == ["3", "name"]
    assert listing.status_code == 200 and "tags.csv" in listing.content.decode()
    assert import_job_progress(ImportJob.objects.get(pk=job.pk)) == 0


def test_job_admin_needs_view_permission(client_with_perms):
    job = ImportJob.objects.create(file_name="tags.csv", data=b"", resource=RESOURCE)

    response = client_with_perms("customers.view_customer").get(
        reverse("admin:core_importjob_progress", args=[job.pk])
    )

    assert response.status_code in (403, 404)


# Customers: the set-based resource, its file read a batch at a time ---------------------------

CUSTOMERS = "customers.resources.CustomerResource"


def customer_file(rows: list[str]) -> bytes:
    return ("external_id,first_name,email\r\n" + "".join(f"{row}\r\n" for row in rows)).encode()


def customer_job(user, rows) -> ImportJob:
    return ImportJob.objects.create(
        created_by=user, file_name="customers.csv", data=customer_file(rows), resource=CUSTOMERS
    )


def test_a_customers_job_reads_its_file_a_batch_at_a_time(user, monkeypatch):
    from customers.models import Customer

    job = customer_job(user, [f"C{n},Name {n},c{n}@example.com" for n in range(5)])
    reported = []
    original_set = cache.set

    def recording_set(key, value, *args, **kwargs):
        if key == progress_key(job.pk):
            reported.append((value, Customer.objects.count()))
        return original_set(key, value, *args, **kwargs)

    monkeypatch.setattr(cache, "set", recording_set)

    job = import_job_run(job_id=job.pk)

    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    assert (job.rows_total, job.rows_done, job.rows_new) == (5, 5, 5)
    # Batches of CRM_IMPORT_JOB_BATCH (2) rows, each written before the next is read.
    assert reported == [(2, 2), (4, 4), (5, 5)]
    assert Customer.objects.get(external_id="C3").source == Customer.Source.IMPORT


def test_a_customers_job_names_a_repeat_batches_apart_and_imports_nothing(user):
    from customers.models import Customer

    rows = [f"C{n},Name {n},c{n}@example.com" for n in range(5)] + ["C9,Again,C1@Example.com"]

    job = import_job_run(job_id=customer_job(user, rows).pk)

    assert job.status == ImportJob.Status.FAILED and not Customer.objects.exists()
    assert job.errors == [
        {
            "row": 7,
            "column": "email",
            "message": "'c1@example.com' is the same record as row 3",
        }
    ]


def test_a_customers_job_with_an_unknown_resource_or_unreadable_file_fails_with_why(user):
    unknown = ImportJob.objects.create(
        created_by=user, file_name="x.csv", data=b"a\r\n1\r\n", resource="customers.Nothing"
    )
    empty = customer_job(user, [])
    empty.data = b""
    empty.save()

    assert import_job_run(job_id=unknown.pk).error.startswith("The file cannot be read")
    assert import_job_run(job_id=empty.pk).error == "The file cannot be read: The file is empty."


def test_a_customers_job_with_a_header_and_no_rows_fails_with_why(user):
    job = import_job_run(job_id=customer_job(user, []).pk)

    assert job.status == ImportJob.Status.FAILED
    assert job.error == "The file cannot be read: The file has a header row but no data rows."


def test_a_jobs_file_is_copied_to_disk_a_chunk_at_a_time_and_read_from_there(user, monkeypatch):
    from core.jobs import services

    monkeypatch.setattr(services, "FILE_CHUNK", 7)
    rows = [f"C{n},Zoë {n},c{n}@example.com" for n in range(5)]
    job = customer_job(user, rows)

    with services.job_file(job) as spool:
        assert spool.read() == bytes(job.data)
        # Read twice (the rows counted, then imported), the file stays open for the second.
        assert sum(1 for _ in csv_records(spool)) == 6
        assert list(csv_records(spool))[1] == ["C0", "Zoë 0", "c0@example.com"]
        assert not spool.closed


def test_an_orders_job_reads_a_semicolon_file_in_windows_1252(user):
    from customers.models import Order
    from customers.tests.factories import CustomerFactory

    CustomerFactory(external_id="C1")
    data = "number;customer;status;total;placed_at\r\nNº 1;C1;paid;12,50;2024-03-01 10:00:00\r\n"
    job = ImportJob.objects.create(
        created_by=user,
        file_name="orders.csv",
        data=data.replace("12,50", "12.50").encode("cp1252"),
        resource="customers.resources.OrderResource",
        encoding="",
    )

    job = import_job_run(job_id=job.pk)

    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    assert Order.objects.get(number="Nº 1").total == Decimal("12.50")
