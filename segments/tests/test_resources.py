"""Segments in and out, their rules as JSON."""

import json

import pytest
import tablib

from segments.models import Segment
from segments.resources import SegmentResource
from segments.tests.factories import SegmentFactory, all_of, condition

pytestmark = pytest.mark.django_db


def problems(resource, result) -> list[str]:
    return [str(problem) for problem in resource.problems(result)]


def rows(*segments) -> tablib.Dataset:
    data = tablib.Dataset(headers=["name", "description", "rules"])
    for name, rules in segments:
        data.append([name, "", json.dumps(rules)])
    return data


def test_segments_are_created_updated_and_unchanged():
    big = all_of(condition("total_spent", "gte", 500))
    bigger = all_of(condition("total_spent", "gte", 900))

    created = SegmentResource().import_data(rows(("Big spenders", big)))
    updated = SegmentResource().import_data(rows(("Big spenders", bigger)))
    unchanged = SegmentResource().import_data(rows(("Big spenders", bigger)))

    assert created.totals["new"] == 1
    assert updated.totals["update"] == 1
    assert unchanged.totals["skip"] == 1
    segment = Segment.objects.get(name="Big spenders")
    assert segment.rules == bigger and segment.slug == "big-spenders"


def test_invalid_rules_are_refused_with_the_rule_error_and_nothing_is_written():
    resource = SegmentResource()
    good = ("Good", all_of(condition("total_spent", "gte", 500)))
    bad = ("Bad", all_of(condition("no_such_field", "eq", 1)))

    result = resource.import_data(rows(good, bad))

    found = problems(resource, result)
    assert len(found) == 1 and found[0].startswith("row 3, rules: ")
    assert not Segment.objects.filter(name__in=["Good", "Bad"]).exists()


def test_export_then_import_reports_no_change():
    SegmentFactory(name="Big spenders")
    exported = SegmentResource().export()

    again = SegmentResource().import_data(tablib.Dataset().load(exported.csv, format="csv"))

    assert problems(SegmentResource(), again) == []
    assert again.totals["new"] == again.totals["update"] == 0
