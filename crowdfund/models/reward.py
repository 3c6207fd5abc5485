"""Reward tiers and their shipping rates."""
import enum

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crowdfund.extensions import db


class ShippingRegion(str, enum.Enum):
    MAINLAND = "mainland"
    HK_MO_TW = "hk_mo_tw"
    OVERSEAS = "overseas"


class RewardTier(db.Model):
    """What a backer gets for pledging at least `price_fen`."""

    __tablename__ = "reward_tiers"
    __table_args__ = (
        CheckConstraint("price_fen > 0", name="price_positive"),
        CheckConstraint("quantity_limit IS NULL OR quantity_limit > 0", name="limit_positive"),
        CheckConstraint("unit_cost_fen IS NULL OR unit_cost_fen >= 0", name="unit_cost_nonnegative"),
        # The database itself refuses to oversell: held + paid slots never exceed the limit.
        CheckConstraint("taken >= 0 AND (quantity_limit IS NULL OR taken <= quantity_limit)", name="taken_within_limit"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[str] = mapped_column(String(60))
    description: Mapped[str] = mapped_column(Text, default="")
    price_fen: Mapped[int] = mapped_column(Integer)
    quantity_limit: Mapped[int | None] = mapped_column(Integer)
    delivery_month: Mapped[str] = mapped_column(String(7))  # "YYYY-MM"
    physical: Mapped[bool] = mapped_column(Boolean, default=True)
    unit_cost_fen: Mapped[int | None] = mapped_column(Integer)
    taken: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # slots held or paid (pledging.py)

    project = relationship("Project", back_populates="tiers")
    shipping_rates = relationship("ShippingRate", cascade="all, delete-orphan", lazy="selectin",
                                  order_by="ShippingRate.region")

    @property
    def rates_in_order(self):
        """Shipping rates, nearest region first."""
        order = [r.value for r in ShippingRegion]
        return sorted(self.shipping_rates, key=lambda rate: order.index(rate.region))

    def shipping_fee(self, region):
        """The fee in fen to ship to the region, or None when the tier does not ship there."""
        for rate in self.shipping_rates:
            if rate.region == region:
                return rate.fee_fen
        return None


class ShippingRate(db.Model):
    """The shipping fee of a physical tier to one region."""

    __tablename__ = "shipping_rates"
    __table_args__ = (
        UniqueConstraint("tier_id", "region", name="uq_shipping_rates_tier_region"),
        CheckConstraint("fee_fen >= 0", name="fee_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tier_id: Mapped[int] = mapped_column(ForeignKey("reward_tiers.id", ondelete="CASCADE"))
    region: Mapped[str] = mapped_column(String(20))
    fee_fen: Mapped[int] = mapped_column(Integer)
