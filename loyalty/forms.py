"""Forms behind the loyalty buttons on the staff pages; the admin's forms are in
loyalty/admin_forms.py."""

from django import forms

from loyalty.models import LoyaltyAccount, Reward


class RewardRedeemForm(forms.Form):
    """Which reward to redeem. Any reward of the account's program is accepted here, so that the
    service can say why one cannot be redeemed (out of stock, expired) instead of a bare
    "invalid choice"."""

    reward = forms.ModelChoiceField(
        queryset=Reward.objects.none(),
        error_messages={
            "required": "Choose a reward.",
            "invalid_choice": "Choose one of this program's rewards.",
        },
    )

    # Sent by the confirmation step's button: without it the page asks first and spends nothing.
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, account: LoyaltyAccount, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reward"].queryset = Reward.objects.filter(program_id=account.program_id)
