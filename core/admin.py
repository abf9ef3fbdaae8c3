"""Admin patterns every app uses."""

from django.contrib import admin


class ReadOnlyAdminMixin:
    """Rows written only by the services: listed and viewed, never added, edited or deleted by
    hand. Works for a ModelAdmin and an inline alike."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """A read-only changelist for a big table: no full count on every page."""

    show_full_result_count = False


class ChangedByActionsMixin:
    """The change permission runs the changelist's actions (which call services); a row itself is
    never edited in a form."""

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request)
