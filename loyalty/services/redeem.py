"""Spending points on rewards, and the vouchers that come of it: marked used or cancelled."""

import secrets

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from loyalty.models import LoyaltyAccount, LoyaltyTransaction, PointLot, Redemption, Reward
from loyalty.services.ledger import LotChange, debt_share, ledger_post, lots_take

Kind = LoyaltyTransaction.Kind


def _redemption_code() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at the till
    body = "".join(secrets.choice(alphabet) for _ in range(8))
    return f"RW-{body[:4]}-{body[4:]}"


def loyalty_reward_redeem(
    *, account: LoyaltyAccount, reward: Reward, created_by=None
) -> Redemption:
    """Spend points on a reward: locks the account, checks the reward and the balance, takes the
    points from the oldest lots and issues a voucher with a unique code."""
    with transaction.atomic():
        locked = LoyaltyAccount.objects.select_for_update().get(pk=account.pk)
        reward = Reward.objects.select_for_update().get(pk=reward.pk)
        if reward.program_id != locked.program_id:
            raise ValidationError({"reward": "This reward belongs to another program."})
        if not reward.is_active:
            raise ValidationError({"reward": f"{reward.name} is not available any more."})
        if reward.valid_until and reward.valid_until < timezone.localdate():
            raise ValidationError({"reward": f"{reward.name} expired on {reward.valid_until}."})
        if reward.stock is not None and reward.stock < 1:
            raise ValidationError({"reward": f"{reward.name} is out of stock."})
        if locked.balance < reward.points_cost:
            raise ValidationError(
                {
                    "points": (
                        f"Not enough points: {reward.name} costs {reward.points_cost}, "
                        f"the balance is {locked.balance}."
                    )
                }
            )
        changes = lots_take(locked, reward.points_cost)
        for _ in range(5):
            try:
                with transaction.atomic():
                    redemption = Redemption.objects.create(
                        account=locked,
                        reward=reward,
                        points=reward.points_cost,
                        code=_redemption_code(),
                        lots_used={str(change.lot.pk): -change.points for change in changes},
                        created_by=created_by,
                    )
                break
            except IntegrityError:  # a code clash: draw again
                continue
        else:  # pragma: no cover - 32^8 codes
            raise RuntimeError("Could not draw a unique voucher code.")
        redeem = LoyaltyTransaction(
            kind=Kind.REDEEM,
            points=-reward.points_cost,
            reward=reward,
            redemption=redemption,
            description=f"{reward.name} ({redemption.code})",
            created_by=created_by,
        )
        ledger_post(account=locked, rows=[redeem], changes=changes)
        if reward.stock is not None:
            Reward.objects.filter(pk=reward.pk).update(stock=F("stock") - 1)
    account.refresh_from_db()
    return redemption


def loyalty_redemption_mark_used(*, redemption: Redemption) -> Redemption:
    """Mark an issued voucher used (at the till); a used or cancelled one is refused."""
    with transaction.atomic():
        locked = Redemption.objects.select_for_update().get(pk=redemption.pk)
        if locked.status != Redemption.Status.ISSUED:
            raise ValidationError(
                {"status": f"Voucher {locked.code} is {locked.get_status_display().lower()}."}
            )
        locked.status = Redemption.Status.USED
        locked.used_at = timezone.now()
        locked.save(update_fields=["status", "used_at"])
    return locked


def loyalty_redemption_cancel(*, redemption: Redemption, cancelled_by=None) -> Redemption:
    """Cancel an issued voucher: its points go back to the lots they came from."""
    with transaction.atomic():
        account = LoyaltyAccount.objects.select_for_update().get(pk=redemption.account_id)
        locked = (
            Redemption.objects.select_for_update(of=("self",))
            .select_related("reward")
            .get(pk=redemption.pk)
        )
        if locked.status != Redemption.Status.ISSUED:
            raise ValidationError(
                {"status": f"Voucher {locked.code} is {locked.get_status_display().lower()}."}
            )
        lots = PointLot.objects.select_for_update().in_bulk(
            [int(lot_id) for lot_id in locked.lots_used]
        )
        cancel = LoyaltyTransaction(
            kind=Kind.REVERSE,
            points=locked.points,
            reward=locked.reward,
            redemption=locked,
            reverses=locked.transactions.filter(kind=Kind.REDEEM).first(),
            description=f"Voucher {locked.code} cancelled",
            created_by=cancelled_by,
        )
        # The points go back to their lots, less what the account owes, which is paid first.
        changes, paid = [], 0
        for lot_id, points in locked.lots_used.items():
            share = debt_share(account, points, planned=paid)
            paid += share
            if points > share:
                changes.append(LotChange(lot=lots[int(lot_id)], points=points - share))
        ledger_post(account=account, rows=[cancel], changes=changes, owed=-paid)
        if locked.reward.stock is not None:
            Reward.objects.filter(pk=locked.reward_id).update(stock=F("stock") + 1)
        locked.status = Redemption.Status.CANCELLED
        locked.cancelled_at = timezone.now()
        locked.save(update_fields=["status", "cancelled_at"])
    return locked
