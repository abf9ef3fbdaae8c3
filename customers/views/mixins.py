class ForgivingPaginationMixin:
    """A page number past the end (a bookmark, a list that shrank since the link was made, the
    last item of the last page just handled, a page beyond a capped count) shows the last page
    instead of a 404."""

    def paginate_queryset(self, queryset, page_size):
        paginator = self.get_paginator(queryset, page_size)
        page = paginator.get_page(self.request.GET.get(self.page_kwarg))
        return paginator, page, page.object_list, page.has_other_pages()
