"""The authentication backend of the staff pages: Django's ModelBackend, with a user's
permissions read in the same query as the user.

Django's backend reads the user, then on the first permission check the user's own permissions,
then their groups' permissions: three queries on every page, each page checking several
permissions (the navigation, the cards of the customer page). Here the session's user is read
with both lists of permission names as two correlated subqueries, so a page knows who is asking
and what they may do after one query. A user loaded any other way (logging in, a test's user
object) has both lists read on first use in one query, a UNION.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db.models import CharField, F, Func, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Concat

SEPARATOR = ","  # never in an app label or a codename


class PermissionNames(Func):
    """The ``app_label.codename`` of every row, joined by SEPARATOR (NULL for none): an
    aggregate over the whole subquery, with no GROUP BY (a Func, not an Aggregate)."""

    function = "STRING_AGG"
    output_field = CharField()

    def __init__(self, expression, **extra):
        super().__init__(expression, Value(SEPARATOR), **extra)

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, function="GROUP_CONCAT", **extra_context)

    def as_mysql(self, compiler, connection, **extra_context):  # pragma: no cover
        return self.as_sql(
            compiler, connection, template="GROUP_CONCAT(%(expressions)s)", **extra_context
        )


def _permission_name() -> Concat:
    return Concat(F("content_type__app_label"), Value("."), F("codename"), output_field=CharField())


def _names(permissions: QuerySet) -> Subquery:
    return Subquery(
        permissions.order_by().annotate(names=PermissionNames(_permission_name())).values("names")
    )


def _split(names: str | None) -> set[str]:
    return set(names.split(SEPARATOR)) if names else set()


class PermissionsInOneQueryBackend(ModelBackend):
    """ModelBackend, whose user comes with their permissions (``_user_perm_cache``,
    ``_group_perm_cache`` and ``_perm_cache``, the caches ModelBackend itself keeps for the
    length of a request)."""

    def get_user(self, user_id):
        user_model = get_user_model()
        users = user_model._default_manager.annotate(
            own_permission_names=_names(Permission.objects.filter(user=OuterRef("pk"))),
            group_permission_names=_names(Permission.objects.filter(group__user=OuterRef("pk"))),
        )
        try:
            user = users.get(pk=user_id)
        except user_model.DoesNotExist:
            return None
        if not user.is_superuser:  # a superuser holds every permission; Django knows
            user._user_perm_cache = _split(user.own_permission_names)
            user._group_perm_cache = _split(user.group_permission_names)
            user._perm_cache = user._user_perm_cache | user._group_perm_cache
        return user if self.user_can_authenticate(user) else None

    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache") and not user_obj.is_superuser:
            own = Permission.objects.filter(user=user_obj).order_by()
            by_group = Permission.objects.filter(group__user=user_obj).order_by()
            rows = (
                own.annotate(permission_name=_permission_name())
                .values_list("permission_name", flat=True)
                .union(
                    by_group.annotate(permission_name=_permission_name()).values_list(
                        "permission_name", flat=True
                    )
                )
            )
            user_obj._perm_cache = set(rows)
        return super().get_all_permissions(user_obj, obj=obj)
