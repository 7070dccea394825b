"""What each benefit of the matrix (`programme.BENEFITS`) costs the business, by the driver
that makes it cost: a share of what members spend (member prices), an amount per order (free
shipping) or an amount per member and year (a birthday gift, priority service, exclusive
events, a dedicated manager).

The amounts are planning assumptions of a mid-sized Chinese online retailer (a parcel of about
¥8, a ¥30 gift, a manager's time shared by a few hundred top members); a programme with its own
figures replaces them in the policy file's `membership.benefit_costs` (`policy.schema`), whose
defaults are these. Costs are counted over the level's qualification window, which is a
year by default, so per-member amounts are yearly.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BenefitCost:
    #: share of members' net spend the benefit gives away (a member price 3 % below list)
    spend_share: float = 0.0
    #: currency units per order (postage the shop pays)
    per_order: float = 0.0
    #: currency units per member and year
    per_member_year: float = 0.0

    def cost(self, members: float, orders: float, spend: float, years: float = 1.0) -> float:
        return (self.spend_share * spend + self.per_order * orders
                + self.per_member_year * members * years)


DEFAULT_COSTS: dict[str, BenefitCost] = {
    "member_price": BenefitCost(spend_share=0.03),
    "free_shipping": BenefitCost(per_order=8.0),
    "birthday_gift": BenefitCost(per_member_year=30.0),
    "priority_service": BenefitCost(per_member_year=20.0),
    "exclusive_events": BenefitCost(per_member_year=200.0),
    "dedicated_manager": BenefitCost(per_member_year=600.0),
}
