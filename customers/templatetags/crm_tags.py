from django import template

from core.colors import badge_style

register = template.Library()


@register.simple_tag(takes_context=True)
def page_query(context, page_number, param="page"):
    """The current query string with one page parameter replaced, e.g. ?q=ann&page=3."""
    query = context["request"].GET.copy()
    query[param or "page"] = page_number
    return "?" + query.urlencode()


@register.filter
def tag_style(tag) -> str:
    """style="{{ tag|tag_style }}": the tag's colour behind text that reads on it."""
    return badge_style(tag.color)
