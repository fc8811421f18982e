"""A shop's orders, and the two things its support desks do to them: refund a double charge, email an invoice.

The dict below stands in for the shop's payment system. Refunding and emailing
act outside the run, so both functions are marked `parley_journal = True`: a
run resumed with `parley run --resume` is served their recorded results and
never refunds or emails twice. A bad order number raises: the agent is told
the error and can ask the customer again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass
class Order:
    """What was bought, its price, how many times the card was charged, and how many were refunded."""

    item: str
    price: float
    charges: int = 1
    refunded: int = 0


ORDERS = {"A1002": Order("desk lamp", 24.00, charges=2), "A1003": Order("bookshelf", 89.00)}


def _order(order_id: str) -> Order:
    key = order_id.strip().upper()
    if key not in ORDERS:
        hint = "check the receipt" if re.fullmatch(r"A\d{4}", key) else "order numbers look like A1002"
        raise KeyError(f"no order {order_id!r}: {hint}")
    return ORDERS[key]


def refund_duplicate(order_id: str) -> str:
    """Refund the charges of an order beyond the first (a customer charged twice)."""
    order = _order(order_id)
    extra = order.charges - 1 - order.refunded
    if extra <= 0:
        raise ValueError(f"order {order_id} has no duplicate charge left to refund")
    order.refunded += extra
    return f"refunded {extra} x ${order.price:.2f} on order {order_id.upper()} ({order.item})"


def send_invoice(order_id: str) -> str:
    """Email the customer the invoice of an order, with its charges and refunds."""
    order = _order(order_id)
    total = order.price * (order.charges - order.refunded)
    return f"invoice for order {order_id.upper()} emailed: {order.item}, total ${total:.2f}"


refund_duplicate.parley_journal = True  # type: ignore[attr-defined]
send_invoice.parley_journal = True  # type: ignore[attr-defined]
