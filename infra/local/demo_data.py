"""A small, deterministic demo dataset (customer churn) so a newcomer has something to train on."""

from __future__ import annotations

import csv
import io
import math
import random

PLANS = ("basic", "plus", "pro")
REGIONS = ("north", "south", "east", "west")


def churn_csv(rows: int = 300, seed: int = 7) -> bytes:
    """CSV bytes: numeric and categorical features, a few missing values, target `churned`."""
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["tenure_months", "monthly_spend", "plan", "support_tickets", "region", "churned"]
    )
    for _ in range(rows):
        tenure = rng.randint(1, 72)
        plan = rng.choice(PLANS)
        spend = round(rng.uniform(5, 40) + PLANS.index(plan) * 15, 2)
        tickets = rng.randint(0, 8)
        region = rng.choice(REGIONS)
        score = 1.2 - 0.06 * tenure + 0.45 * tickets - 0.5 * PLANS.index(plan) + rng.gauss(0, 0.8)
        churned = "yes" if 1 / (1 + math.exp(-score)) > 0.5 else "no"
        writer.writerow(
            [
                tenure,
                "" if rng.random() < 0.03 else spend,
                plan,
                tickets,
                "" if rng.random() < 0.03 else region,
                churned,
            ]
        )
    return out.getvalue().encode()
