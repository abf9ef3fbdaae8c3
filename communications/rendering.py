"""Rendering a message for a customer: templates in Django syntax over a restricted context.

A template sees plain values only, never a model instance, so nothing of the database beyond
them can be reached (``{{ customer.orders.all }}`` renders nothing):

    customer.first_name, customer.last_name   the customer's names
    loyalty.balance, loyalty.tier             points balance and tier name (see _loyalty_values)
    shop_name                                 settings.CRM_NAME
    unsubscribe_url                           the message's signed unsubscribe link

It is compiled by its own template engine, which knows a short list of harmless tags and
filters and nothing else: no ``{% load %}``, ``{% include %}``, ``{% extends %}``, ``{% url %}``.
Output is plain text (no HTML escaping); an email's HTML part is built from it by
communications.tracking.email_parts, which escapes it.

``template_errors`` reports syntax errors and unknown variables with their place, for the
Template model's clean() and for a campaign's own subject and body. A send compiles its message
once (``CompiledMessage``), reads its customers' contexts a batch at a time
(``customer_contexts``: one query for their loyalty) and renders each one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.exceptions import ValidationError
from django.template import Context, Library, TemplateSyntaxError, defaultfilters, defaulttags
from django.template.base import FilterExpression, Node, NodeList, Template, Variable, VariableNode
from django.template.engine import Engine

# The variables a template may use; None for a plain value, else the keys of a mapping.
CONTEXT_VARIABLES: dict[str, tuple[str, ...] | None] = {
    "customer": ("first_name", "last_name"),
    "loyalty": ("balance", "tier"),
    "shop_name": None,
    "unsubscribe_url": None,
}
VARIABLE_NAMES = tuple(
    f"{name}.{key}" if keys else name
    for name, keys in CONTEXT_VARIABLES.items()
    for key in (keys or ("",))
)

ALLOWED_TAGS = (
    "comment",
    "cycle",
    "firstof",
    "for",
    "if",
    "now",
    "spaceless",
    "templatetag",
    "verbatim",
    "with",
)
ALLOWED_FILTERS = (
    "add",
    "capfirst",
    "cut",
    "date",
    "default",
    "default_if_none",
    "first",
    "floatformat",
    "join",
    "last",
    "length",
    "lower",
    "pluralize",
    "slice",
    "stringformat",
    "title",
    "truncatechars",
    "truncatewords",
    "upper",
    "urlencode",
    "wordcount",
    "yesno",
)


def _library() -> Library:
    library = Library()
    library.tags = {name: defaulttags.register.tags[name] for name in ALLOWED_TAGS}
    # The closing and middle tags of if/for/with are parsed by their opening tag.
    library.filters = {name: defaultfilters.register.filters[name] for name in ALLOWED_FILTERS}
    library.filters["intcomma"] = intcomma
    return library


class _RestrictedEngine(Engine):
    # None of Django's built-in libraries: the engine knows only the library given below.
    default_builtins: list[str] = []


# debug=True keeps each node's line, so errors say where they are; rendering is as fast.
ENGINE = _RestrictedEngine(debug=True, libraries={}, builtins=[], autoescape=False)
ENGINE.template_builtins = [_library()]

FIELD_LABELS = {"subject": "Subject", "body": "Body"}


# --- Checking ----------------------------------------------------------------------------------


def template_errors_by_field(*, subject: str, body: str, channel: str) -> dict[str, list[str]]:
    """The problems of a message's subject and body, by field: syntax errors, tags and filters
    the restricted engine does not have, variables outside the context, an email without a
    subject. Empty when the message can be sent."""
    errors: dict[str, list[str]] = {}
    if channel == "email" and not (subject or "").strip():
        errors["subject"] = ["An email needs a subject."]
    if not (body or "").strip():
        errors.setdefault("body", []).append("Write the message.")
    for field, source in (("subject", subject), ("body", body)):
        if source:
            problems = _source_problems(source, multiline=field == "body")
            if problems:
                errors.setdefault(field, []).extend(problems)
    return errors


def template_errors(*, subject: str, body: str, channel: str) -> list[str]:
    """The problems of a message's subject and body, each naming the field and, in the body,
    the line: "Body, line 3: …". Empty when the message can be sent."""
    return [
        f"{FIELD_LABELS[field]}: {message}"
        if not message.startswith("line ")
        else f"{FIELD_LABELS[field]}, {message}"
        for field, messages in template_errors_by_field(
            subject=subject, body=body, channel=channel
        ).items()
        for message in messages
    ]


def _source_problems(source: str, *, multiline: bool) -> list[str]:
    def place(line: int | None) -> str:
        return f"line {line}: " if multiline and line else ""

    try:
        template = Template(source, engine=ENGINE)
    except TemplateSyntaxError as error:
        line = getattr(error, "template_debug", {}).get("line")
        return [place(line) + _syntax_message(error)]
    problems = []
    for variable, line in _variables(template.nodelist, frozenset()):
        name = ".".join(variable.lookups)
        problems.append(
            f"{place(line)}“{name}” is not something a message can show; it can use "
            f"{', '.join(VARIABLE_NAMES)}."
        )
    return problems


def _syntax_message(error: TemplateSyntaxError) -> str:
    message = str(error)
    token = getattr(error, "token", None)
    if token is not None and message.startswith("Invalid block tag"):
        name = token.contents.split()[0] if token.contents else ""
        return (
            f"“{{% {name} %}}” is not a tag a message can use; it can use "
            f"{', '.join(t for t in ALLOWED_TAGS)}."
        )
    match = re.match(r"Invalid filter: '([^']*)'", message)
    if match:
        return (
            f"“|{match[1]}” is not a filter a message can use; it can use "
            f"{', '.join(sorted((*ALLOWED_FILTERS, 'intcomma')))}."
        )
    return re.sub(r" Did you forget to register or load this tag\?", "", message)


def _variables(nodelist: NodeList, local: frozenset[str]):
    """(variable, line) for each variable a template reads that is not in the context."""
    for node in nodelist:
        line = getattr(getattr(node, "token", None), "lineno", None)
        for expression in _expressions(node):
            for variable in _expression_variables(expression):
                if not _known(variable, local):
                    yield variable, line
        if isinstance(node, defaulttags.ForNode):
            yield from _variables(node.nodelist_loop, local | {*node.loopvars, "forloop"})
            yield from _variables(node.nodelist_empty, local)
        elif isinstance(node, defaulttags.WithNode):
            yield from _variables(node.nodelist, local | set(node.extra_context))
        elif isinstance(node, defaulttags.IfNode):
            for _condition, branch in node.conditions_nodelists:
                yield from _variables(branch, local)
        elif isinstance(node, (defaulttags.FirstOfNode, defaulttags.CycleNode)):
            asvar = getattr(node, "asvar", None) or getattr(node, "variable_name", None)
            if asvar:
                local = local | {asvar}
        else:
            for attribute in node.child_nodelists:
                yield from _variables(getattr(node, attribute, None) or NodeList(), local)


def _expressions(node: Node):
    if isinstance(node, VariableNode):
        yield node.filter_expression
    elif isinstance(node, defaulttags.ForNode):
        yield node.sequence
    elif isinstance(node, defaulttags.WithNode):
        yield from node.extra_context.values()
    elif isinstance(node, defaulttags.IfNode):
        for condition, _branch in node.conditions_nodelists:
            yield from _condition_expressions(condition)
    elif isinstance(node, defaulttags.FirstOfNode):
        yield from node.vars
    elif isinstance(node, defaulttags.CycleNode):
        yield from node.cyclevars


def _condition_expressions(condition):
    if condition is None:  # {% else %}
        return
    value = getattr(condition, "value", None)
    if isinstance(value, FilterExpression):
        yield value
    for operand in (getattr(condition, "first", None), getattr(condition, "second", None)):
        if operand is not None:
            yield from _condition_expressions(operand)


def _expression_variables(expression: FilterExpression):
    if isinstance(expression.var, Variable):
        yield expression.var
    for _function, arguments in expression.filters:
        for is_lookup, argument in arguments:
            if is_lookup:
                yield argument


def _known(variable: Variable, local: frozenset[str]) -> bool:
    if variable.lookups is None:  # a literal: "text", 3
        return True
    head, *rest = variable.lookups
    if head in local:
        return True
    if head not in CONTEXT_VARIABLES:
        return False
    keys = CONTEXT_VARIABLES[head]
    if keys is None:
        return not rest
    return len(rest) == 1 and rest[0] in keys


# --- Contexts ----------------------------------------------------------------------------------

NO_LOYALTY = {"balance": 0, "tier": ""}
# customer_id__in of a batch stays under SQLite's limit on a statement's parameters.
_LOYALTY_BATCH = 2000


def customer_contexts(customers: list) -> dict[int, dict]:
    """The restricted context of each customer (by id), plain values only; their loyalty read
    in one query per 2,000 customers. ``unsubscribe_url`` is blank: the send sets it per
    message."""
    loyalty = _loyalty_values([customer.pk for customer in customers])
    shop_name = settings.CRM_NAME
    return {
        customer.pk: {
            "customer": {"first_name": customer.first_name, "last_name": customer.last_name},
            "loyalty": loyalty.get(customer.pk, NO_LOYALTY),
            "shop_name": shop_name,
            "unsubscribe_url": "",
        }
        for customer in customers
    }


def _loyalty_values(customer_ids: list[int]) -> dict[int, dict]:
    """Each customer's loyalty balance and tier name. A customer in several programs shows the
    account of an active program first, then the one with the largest balance, then the oldest
    membership: the points the customer can spend now, in the program that runs."""
    from loyalty.models import LoyaltyAccount

    values: dict[int, dict] = {}
    for start in range(0, len(customer_ids), _LOYALTY_BATCH):
        rows = (
            LoyaltyAccount.objects.filter(
                customer_id__in=customer_ids[start : start + _LOYALTY_BATCH]
            )
            .order_by("customer_id", "-program__is_active", "-balance", "joined_at", "id")
            .values_list("customer_id", "balance", "tier__name")
        )
        for customer_id, balance, tier in rows:
            if customer_id not in values:
                values[customer_id] = {"balance": balance, "tier": tier or ""}
    return values


# --- Rendering ---------------------------------------------------------------------------------


class CompiledMessage:
    """A message's subject and body, compiled once (per campaign) and rendered per customer.
    A message that does not compile raises ValidationError with template_errors' messages."""

    def __init__(self, *, subject: str, body: str):
        try:
            self.subject_template = Template(subject or "", engine=ENGINE)
            self.body_template = Template(body or "", engine=ENGINE)
        except TemplateSyntaxError:
            raise ValidationError(
                template_errors(subject=subject, body=body, channel="sms")
            ) from None

    def render(self, context: dict) -> tuple[str, str]:
        """(subject, body) for one context of customer_contexts (with its unsubscribe_url set):
        the subject on one line, the body without leading or trailing blank space."""
        subject = self.subject_template.render(Context(dict(context), autoescape=False))
        body = self.body_template.render(Context(dict(context), autoescape=False))
        return " ".join(subject.split()), body.strip()


def render_message(
    *, subject: str, body: str, customer, unsubscribe_url: str = ""
) -> tuple[str, str]:
    """(subject, body) rendered for one customer, e.g. a preview."""
    context = customer_contexts([customer])[customer.pk]
    context["unsubscribe_url"] = unsubscribe_url
    return CompiledMessage(subject=subject, body=body).render(context)


# --- SMS length --------------------------------------------------------------------------------

# GSM 03.38: the basic character set (one septet each) and its extension table (two: an escape
# and the character).
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("\x0c^{}\\[~]|€")
# Characters in one message, and in each part of a message sent in parts (the rest of a part
# carries the header that joins them).
SMS_LIMITS = {"GSM-7": (160, 153), "UCS-2": (70, 67)}


@dataclass(frozen=True)
class SmsLength:
    encoding: str  # "GSM-7" or "UCS-2"
    characters: int  # septets in GSM-7 (extension characters count 2), UTF-16 units in UCS-2
    segments: int  # messages the phone network carries it in

    @property
    def per_segment(self) -> int:
        single, part = SMS_LIMITS[self.encoding]
        return single if self.segments <= 1 else part

    def __str__(self) -> str:
        plural = "" if self.segments == 1 else "s"
        return (
            f"{self.characters} characters in {self.encoding}: {self.segments} message{plural} "
            f"(up to {SMS_LIMITS[self.encoding][0]} in one, {SMS_LIMITS[self.encoding][1]} "
            "per part beyond)"
        )


def sms_length(body: str) -> SmsLength:
    """How long an SMS is: GSM-7 when every character is in the GSM alphabet (160 in a single
    message, 153 per part), else UCS-2 (70, 67). A character is never split between parts (an
    extension character's escape stays with it, an emoji's two halves together)."""
    if all(character in GSM_BASIC or character in GSM_EXTENSION for character in body):
        encoding = "GSM-7"
        units = [2 if character in GSM_EXTENSION else 1 for character in body]
    else:
        encoding = "UCS-2"
        units = [2 if ord(character) > 0xFFFF else 1 for character in body]
    characters = sum(units)
    single, part = SMS_LIMITS[encoding]
    if characters == 0:
        segments = 0
    elif characters <= single:
        segments = 1
    else:
        segments, used = 1, 0
        for size in units:
            if used + size > part:
                segments, used = segments + 1, 0
            used += size
    return SmsLength(encoding=encoding, characters=characters, segments=segments)
