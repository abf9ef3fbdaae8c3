import os
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

CHROMIUM = os.environ.get("CRM_CHROMIUM", "/usr/bin/chromium")

# Playwright's sync API keeps an event loop running in the test thread for the whole session;
# the test database set-up and the tests' own ORM calls beside it are ordinary synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_configure(config):
    # Tests log users in by the hundred; the production hasher's deliberate slowness buys nothing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def pytest_collection_modifyitems(config, items):
    """Tests marked postgres or redis run where that service is configured, and only there."""
    on_postgres = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    if os.environ.get("CRM_REQUIRE_SERVICES") and not (on_postgres and os.environ.get("REDIS_URL")):
        raise pytest.UsageError("CRM_REQUIRE_SERVICES is set but DATABASE_URL/REDIS_URL are not.")
    skip_postgres = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL")
    skip_redis = pytest.mark.skip(reason="needs Redis: set REDIS_URL")
    has_chromium = Path(CHROMIUM).exists()
    if os.environ.get("CRM_REQUIRE_SERVICES") and not has_chromium:
        raise pytest.UsageError(f"CRM_REQUIRE_SERVICES is set but {CHROMIUM} is missing.")
    skip_browser = pytest.mark.skip(reason=f"needs Chromium at {CHROMIUM}")
    for item in items:
        if "browser" in item.keywords and not has_chromium:
            item.add_marker(skip_browser)
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip_postgres)
        if "redis" in item.keywords and not os.environ.get("REDIS_URL"):
            item.add_marker(skip_redis)


@pytest.fixture(autouse=True)
def celery_eager(settings):
    """Tasks run in-process in tests unless a test starts a real worker (marked redis)."""
    from crm.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def assert_queries(db):
    """``with assert_queries(n): ...`` fails unless exactly n queries ran, and then lists every
    one of them, numbered, whatever pytest's verbosity: the list is what a reader needs."""
    from contextlib import contextmanager

    from django.test.utils import CaptureQueriesContext

    @contextmanager
    def check(expected: int):
        with CaptureQueriesContext(connection) as captured:
            yield captured
        ran = captured.captured_queries
        if len(ran) != expected:
            listing = "\n".join(f"{n}. {query['sql']}" for n, query in enumerate(ran, 1))
            pytest.fail(f"Expected {expected} queries, {len(ran)} ran:\n{listing}", pytrace=False)

    return check


@pytest.fixture(autouse=True)
def staff_groups_for_browser_tests(request):
    """Browser tests run on a flushed database; a flush with serialized rollback (as one of them
    asks for) skips what runs after migrate, so content types, permissions and the staff groups
    are made again here, as migrate makes them."""
    if "browser" in request.keywords:
        from django.core.management.sql import emit_post_migrate_signal

        request.getfixturevalue("transactional_db")
        emit_post_migrate_signal(verbosity=0, interactive=False, db="default")


@pytest.fixture
def vendor():
    return connection.vendor


@pytest.fixture
def user_with_perms(db):
    """Make a staff user holding the given "app.codename" permissions (and nothing else)."""
    from django.contrib.auth.models import Permission

    from customers.tests.factories import UserFactory

    def make(*perms, **fields):
        user = UserFactory(**fields)
        for perm in perms:
            app_label, codename = perm.split(".")
            user.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        return user

    return make


@pytest.fixture
def client_with_perms(client, user_with_perms):
    """A test client logged in as a user with exactly the given permissions."""

    def make(*perms):
        client.force_login(user_with_perms(*perms))
        return client

    return make


@pytest.fixture
def client_in_group(client, db):
    """A test client logged in as a member of one of the staff groups (Support, Managers…)."""
    from django.contrib.auth.models import Group

    from customers.tests.factories import UserFactory

    def make(group_name):
        user = UserFactory()
        user.groups.add(Group.objects.get(name=group_name))
        client.force_login(user)
        return client

    return make


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Drive the system Chromium (no browser download), headless, without background traffic."""
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


# Accessibility: axe-core in every browser journey ---------------------------------------------

AXE_SCRIPT = Path(__file__).parent / "crm/tests/vendor/axe-core-4.14.1/axe.min.js"
# WCAG 2.0, 2.1 and 2.2, levels A and AA.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
AXE_WIDTHS = {"desktop": (1366, 900), "phone": (390, 844)}
AXE_RUN = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags}});
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.length}): `
      + v.nodes.slice(0, 4).map((n) => n.target.join(" ")).join(" | "));
}"""


@pytest.fixture
def axe(request):
    """``axe()`` checks the page as it stands, at desktop and at phone width, with axe-core:
    any serious or critical WCAG 2.2 A/AA violation fails the test (at its end, listing all of
    them). Every page a browser test loads and every htmx swap it makes must be checked before
    the next one: the test fails otherwise, naming the page it left unchecked."""
    page = request.getfixturevalue("page")
    # Bootstrap's fades and smooth scrolling would let axe measure a colour mid-transition.
    page.emulate_media(reduced_motion="reduce")
    state = {"unchecked": None, "missed": [], "violations": []}

    def changed(what: str) -> None:
        if state["unchecked"] is not None:
            state["missed"].append(state["unchecked"])
        state["unchecked"] = what

    page.on("load", lambda loaded: changed(f"page {loaded.url}"))
    page.expose_binding("crmSwapped", lambda source, target: changed(f"htmx swap into {target}"))
    page.add_init_script(
        "document.addEventListener('htmx:afterSettle', (event) => "
        "window.crmSwapped('#' + (event.detail.target.id || event.detail.target.tagName)));"
    )

    def check() -> None:
        page.wait_for_load_state()
        # htmx puts new content in a moment before it settles: check what settled.
        page.wait_for_function(
            "!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
        )
        state["unchecked"] = None
        original = page.viewport_size
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.add_script_tag(path=str(AXE_SCRIPT))
        for width, (w, h) in AXE_WIDTHS.items():
            page.set_viewport_size({"width": w, "height": h})
            for violation in page.evaluate(AXE_RUN, AXE_TAGS):
                state["violations"].append(f"{page.url} at {width} width: {violation}")
        if original:
            page.set_viewport_size(original)

    yield check
    problems = [*state["violations"]]
    problems += [f"not checked with axe: {what}" for what in state["missed"]]
    if state["unchecked"] is not None:
        problems.append(f"not checked with axe: {state['unchecked']}")
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture(autouse=True)
def axe_in_every_browser_test(request):
    """Every browser test that opens a page is held to the axe fixture's rule, whether it asked
    for it or not: a page it loads and does not check fails it."""
    if "browser" in request.keywords and "page" in request.fixturenames:
        request.getfixturevalue("axe")
