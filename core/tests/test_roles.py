"""The staff roles: each app declares them on its AppConfig (core/roles.py) and the groups are
synced after migrate."""

import pytest
from django.contrib.auth.models import Group

pytestmark = pytest.mark.django_db


def test_managers_may_start_a_run():
    managers = Group.objects.get(name="Managers")

    assert managers.permissions.filter(codename="add_analyticsrun").exists()
