"""A coffee supply chain as a small optimization model, the program what-if questions change.

Suppliers sell beans to roasteries, roasteries roast them and deliver to cafes.
A plan names the one supplier each roastery buys from and the one roastery
that serves each cafe; the best plan meets every cafe's demand within the
suppliers' capacities at the least cost. A what-if question becomes one more
rule a plan must keep, appended to `constraints` at the marker below
(examples/supply_chain.agent writes it in). The model is small enough to try
every plan, so it needs the standard library only.

    python examples/lib/coffee_model.py
"""

from itertools import product

CAPACITY = {"supplier1": 150, "supplier2": 50, "supplier3": 100}  # bags a supplier can sell
SHIPPING = {  # dollars a bag, supplier to roastery (beans included)
    ("supplier1", "roastery1"): 5, ("supplier1", "roastery2"): 2,
    ("supplier2", "roastery1"): 6, ("supplier2", "roastery2"): 4,
    ("supplier3", "roastery1"): 2, ("supplier3", "roastery2"): 7,
}
ROASTING = {"roastery1": 3, "roastery2": 5}  # dollars a bag
DELIVERY = {  # dollars a bag, roastery to cafe
    ("roastery1", "cafe1"): 5, ("roastery1", "cafe2"): 3, ("roastery1", "cafe3"): 6,
    ("roastery2", "cafe1"): 4, ("roastery2", "cafe2"): 5, ("roastery2", "cafe3"): 2,
}
DEMAND = {"cafe1": 20, "cafe2": 30, "cafe3": 40}  # bags a cafe needs

SUPPLIERS, ROASTERIES, CAFES = sorted(CAPACITY), sorted(ROASTING), sorted(DEMAND)


def volumes(serve):
    """Bags each roastery roasts under a plan."""
    return {r: sum(DEMAND[c] for c in CAFES if serve[c] == r) for r in ROASTERIES}


# What-if rules a plan must keep: functions of (source, serve) that return True for an allowed plan,
# `source` mapping each roastery to its supplier and `serve` each cafe to its roastery.
constraints = []
# WHAT-IF CONSTRAINTS


def plans():
    """Every plan: `source` maps each roastery to its supplier, `serve` each cafe to its roastery."""
    for buys in product(SUPPLIERS, repeat=len(ROASTERIES)):
        for serves in product(ROASTERIES, repeat=len(CAFES)):
            yield dict(zip(ROASTERIES, buys)), dict(zip(CAFES, serves))


def cost(source, serve):
    """Dollars a plan costs: beans shipped, roasted and delivered."""
    roasted = volumes(serve)
    return (sum(roasted[r] * (SHIPPING[source[r], r] + ROASTING[r]) for r in ROASTERIES)
            + sum(DEMAND[c] * DELIVERY[serve[c], c] for c in CAFES))


def within_capacity(source, serve):
    """Whether no supplier is asked for more beans than it can sell."""
    roasted = volumes(serve)
    return all(sum(roasted[r] for r in ROASTERIES if source[r] == s) <= CAPACITY[s] for s in SUPPLIERS)


def best(rules):
    """The cheapest plan within capacity that keeps every rule, as (cost, source, serve); None if there is none."""
    allowed = [(cost(s, v), s, v) for s, v in plans() if within_capacity(s, v) and all(ok(s, v) for ok in rules)]
    return min(allowed, key=lambda p: (p[0], sorted(p[1].items()), sorted(p[2].items())), default=None)


def show(label, found):
    """Print a plan and its cost."""
    if found is None:
        print(f"{label}: no plan keeps every rule")
        return
    total, source, serve = found
    roasted = volumes(serve)
    buys = ", ".join(f"{r} buys from {source[r]}" if roasted[r] else f"{r} idle" for r in ROASTERIES)
    serves = ", ".join(f"{c} by {serve[c]}" for c in CAFES)
    print(f"{label}: ${total} ({buys}; {serves})")


show("Current plan", best([]))
show("What-if plan", best(constraints))
