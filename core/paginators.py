"""Paginators for lists that may hold millions of rows: a count that costs the same whatever the
size of the table, and deep pages that skip the rows before them by their ids alone."""

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import QuerySet
from django.utils.functional import cached_property


class EstimatedCountPaginator(Paginator):
    """Counts a whole big table on PostgreSQL (no filter, no search) from the planner's
    statistics, kept by autovacuum and ANALYZE: counting ten million orders on every page of the
    admin took half a second. Past ESTIMATE_FROM rows the last page may be a little off; such a
    count is shown as "about" (``estimated``).

    A smaller whole table is counted exactly. Any other list counts at most
    CRM_LIST_COUNT_CAP + 1 rows: a search matching 200,000 customers is not counted to the end
    on every page. When more match, ``count`` is the cap, ``capped`` is set and only the pages
    within the cap exist; the pages say "1,000+"."""

    ESTIMATE_FROM = 100_000
    estimated = False  # set when the count came from the statistics
    capped = False  # set when more rows match than the count went up to
    sample = None  # a capped search's keys: the matches its pages show

    def __init__(self, *args, search: bool = False, **kwargs):
        """``search``: the list is a text search, whose matches the trigram indexes find."""
        super().__init__(*args, **kwargs)
        self.search = search

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet) or queryset.query.is_sliced:
            return super().count
        if not queryset.query.where:
            # A whole table: from the statistics when big, otherwise counted to the end (the
            # cap is for matches: a shop of 2,000 customers is told it has 2,000).
            if connection.vendor == "postgresql":
                estimate = self._table_estimate(queryset.model._meta.db_table)
                if estimate >= self.ESTIMATE_FROM:
                    self.estimated = True
                    return estimate
            return super().count
        cap = settings.CRM_LIST_COUNT_CAP
        if self.search and connection.vendor == "postgresql":
            keys = self._first_matches(queryset.order_by(), cap + 1)
            if len(keys) > cap:
                self.capped = True
                self.sample = keys[:cap]
                return cap
            return len(keys)
        counted = queryset.order_by()[: cap + 1].count()
        if counted > cap:
            self.capped = True
            return cap
        return counted

    @staticmethod
    def _first_matches(queryset: QuerySet, limit: int) -> list:
        """The keys of up to ``limit`` matches of a search, in no order: planned as a whole
        first (a materialised CTE, read only as far as the limit). Told it needs only the first
        rows, the planner walks the table instead of the trigram indexes, which cannot stop
        early (90 ms instead of 13 for a common last name at a million customers)."""
        try:
            sql, params = queryset.values("pk").query.sql_with_params()
        except EmptyResultSet:  # a queryset that can match nothing (.none(), an empty IN)
            return []
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH matches AS MATERIALIZED ({sql}) SELECT * FROM matches LIMIT %s",
                [*params, limit],
            )
            return [row[0] for row in cursor.fetchall()]

    def page(self, number) -> Page:
        """A page of the list; of a capped search, a page of the sample it keeps, in the list's
        order: sorting every match of a common name would cost more with every match."""
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        listed = self.object_list
        if self.sample is not None:
            ordering = listed.query.order_by
            listed = self.by_keys(self.sample)
            if ordering:  # otherwise the model's default order, as the list had
                listed = listed.order_by(*ordering)
        return self._get_page(listed[bottom:top], number, self)

    def by_keys(self, keys: list) -> QuerySet:
        """The rows of ``keys`` with the list's joins, prefetches and deferred fields, but not
        its filters (the keys already match them); the list itself when it has annotations."""
        listed = self.object_list
        if listed.query.annotations:
            return listed.filter(pk__in=keys)
        rows = listed.model._default_manager.filter(pk__in=keys)
        rows.query.select_related = listed.query.select_related
        rows = rows.prefetch_related(*listed._prefetch_related_lookups)
        if listed.query.deferred_loading != (frozenset(), True):
            names, defer = listed.query.deferred_loading
            rows = rows.defer(*names) if defer else rows.only(*names)
        return rows

    @staticmethod
    def _table_estimate(table: str) -> int:
        """The planner's row count of ``table``; -1 before its first ANALYZE."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [table]
            )
            row = cursor.fetchone()
        return int(row[0]) if row else -1


class IdsFirstPaginator(EstimatedCountPaginator):
    """Fetches a page in two steps: the primary keys of the page, in the list's order, then the
    rows of those keys (with the queryset's joins and prefetches), put back in that order. To
    reach page 500 the database then skips 12,475 narrow rows, only index entries when the
    order's index holds the primary key (an index-only scan), instead of 12,475 whole rows; it
    costs one more query per page."""

    def page(self, number) -> Page:
        page = super().page(number)
        if isinstance(self.object_list, QuerySet):
            page.object_list = self._rows_in_order(page.object_list)
        return page

    def _rows_in_order(self, page_rows: QuerySet) -> list:
        ids = list(page_rows.prefetch_related(None).values_list("pk", flat=True))
        if not ids:
            return []
        # By key alone: repeated, a search's filters sent PostgreSQL back through its trigram
        # indexes (60 ms at a million customers) for rows it had just found.
        rows = {row.pk: row for row in self.by_keys(ids).order_by()}
        return [rows[pk] for pk in ids if pk in rows]
