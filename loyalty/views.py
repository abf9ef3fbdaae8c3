"""Staff actions on loyalty from the customer page: enrol a customer, redeem a reward."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.html import format_html
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.forms import error_text
from core.visibility import customers_visible_to, rows_visible_to
from loyalty import selectors, services
from loyalty.forms import RewardRedeemForm
from loyalty.models import LoyaltyAccount, LoyaltyProgram
from loyalty.panels import loyalty_panel_context


def _panel(request, customer, *, notice: str = "", error: str = ""):
    context = {**loyalty_panel_context(request, customer), "notice": notice, "error": error}
    return render(request, "loyalty/panel.html", {"panel": context, "customer": customer})


@require_GET
@login_required
@permission_required(
    ("loyalty.view_loyaltyaccount", "loyalty.add_loyaltyaccount"), raise_exception=True
)
def enrol_options(request, customer_pk):
    """The running programs a customer could still join, loaded into the panel on demand."""
    customer = get_object_or_404(customers_visible_to(request.user), pk=customer_pk)
    programs = list(selectors.programs_open_for_enrolment(customer))
    return render(
        request, "loyalty/partials/enrol.html", {"customer": customer, "programs": programs}
    )


@require_POST
@login_required
@permission_required(
    ("loyalty.view_loyaltyaccount", "loyalty.add_loyaltyaccount"), raise_exception=True
)
def customer_enrol(request, customer_pk, program_pk):
    customer = get_object_or_404(customers_visible_to(request.user), pk=customer_pk)
    program = get_object_or_404(LoyaltyProgram, pk=program_pk)
    notice = error = ""
    try:
        services.loyalty_account_enrol(customer=customer, program=program)
    except ValidationError as exc:
        error = f"Could not enrol: {error_text(exc)}"
    else:
        notice = f"{customer} is a member of {program}."
    if request.htmx:
        return _panel(request, customer, notice=notice, error=error)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, notice)
    return redirect("customers:detail", pk=customer.pk)


@require_http_methods(["GET", "POST"])
@login_required
@permission_required(
    ("loyalty.view_loyaltyaccount", "loyalty.add_redemption"), raise_exception=True
)
def account_redeem(request, pk):
    """GET: the rewards the account's program offers today. POST of a reward: ask to confirm it,
    naming the reward and its points, and spend nothing. POST with ``confirm``: redeem it, then
    back to the customer with the voucher code; a refusal leaves everything as it was and says
    why."""
    account = get_object_or_404(
        rows_visible_to(
            request.user, LoyaltyAccount.objects.select_related("customer", "program", "tier")
        ),
        pk=pk,
    )
    form = RewardRedeemForm(request.POST if request.method == "POST" else None, account=account)
    if request.method == "POST" and form.is_valid():
        reward = form.cleaned_data["reward"]
        if not form.cleaned_data["confirm"]:
            reward.points_short = max(0, reward.points_cost - account.balance)
            reward.balance_after = account.balance - reward.points_cost
            return render(
                request,
                "loyalty/redeem.html",
                {"account": account, "customer": account.customer, "confirm_reward": reward},
            )
        try:
            redemption = services.loyalty_reward_redeem(
                account=account, reward=reward, created_by=request.user
            )
        except ValidationError as exc:
            form.add_error("reward", exc.messages)  # every refusal is about the reward chosen
        else:
            messages.success(
                request,
                format_html(
                    "Redeemed {} for {} points. Voucher code: "
                    '<strong class="font-monospace fs-5 text-nowrap user-select-all">{}</strong>',
                    reward.name,
                    redemption.points,
                    redemption.code,
                ),
            )
            return redirect("customers:detail", pk=account.customer_id)
    rewards = list(selectors.rewards_available(account.program))
    for reward in rewards:
        reward.points_short = max(0, reward.points_cost - account.balance)
    chosen = form.data.get("reward", "")
    return render(
        request,
        "loyalty/redeem.html",
        {
            "account": account,
            "customer": account.customer,
            "rewards": rewards,
            "form": form,
            "chosen_reward": chosen if form.errors else "",
        },
    )
