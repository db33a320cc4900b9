#!/usr/bin/env python3
"""Reference figures from the Python package `lifetimes` (0.11.3) for crmd's value-model tests.

    lifetimes-reference.py transactions
        The CDNOW sample that lifetimes ships, one purchase a line: customer id, YYYY-MM-DD, amount.
    lifetimes-reference.py predict AS_OF R ALPHA A B P Q GAMMA ID...
        For each customer id, from the sample's purchases up to AS_OF (days converted to weeks, as
        crmd does): the inputs, P(alive), expected purchases in 52 weeks, the expected order value
        and the 12-month lifetime value at 1 % a month, with the given parameters. Also the SHA-256
        of the canonical input table of every customer. One JSON object.

scripts/test.sh installs lifetimes into a private virtual environment and runs this with it.
"""
import hashlib
import json
import os
import sys

import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import summary_data_from_transaction_data
import lifetimes.datasets


def sample():
    path = os.path.join(os.path.dirname(lifetimes.datasets.__file__), "CDNOW_sample.txt")
    rows = pd.read_csv(path, sep=r"\s+", header=None, names=["master_id", "id", "date", "cds", "amount"],
                       dtype={"date": str})
    rows["date"] = pd.to_datetime(rows["date"], format="%Y%m%d")
    return rows


def main(argv):
    rows = sample()
    if argv[1] == "transactions":
        for row in rows.itertuples():
            print(f"{row.id}\t{row.date:%Y-%m-%d}\t{row.amount:.2f}")
        return
    as_of = argv[2]
    r, alpha, a, b, p, q, gamma = map(float, argv[3:10])
    ids = [int(i) for i in argv[10:]]
    summary = summary_data_from_transaction_data(rows, "id", "date", "amount", observation_period_end=as_of,
                                                 freq="D")
    summary["recency"] /= 7
    summary["T"] /= 7
    table = "".join(f"{s.frequency:.0f}\t{s.recency:.6f}\t{s.T:.6f}\t{s.monetary_value:.6f}\n"
                    for s in summary.sort_index().itertuples())
    bgf = BetaGeoFitter()
    bgf.params_ = pd.Series({"r": r, "alpha": alpha, "a": a, "b": b})
    bgf.predict = bgf.conditional_expected_number_of_purchases_up_to_time  # as fit() sets it
    ggf = GammaGammaFitter()
    ggf.params_ = pd.Series({"p": p, "q": q, "v": gamma})
    chosen = summary.loc[ids]
    f, rec, T, m = chosen["frequency"], chosen["recency"], chosen["T"], chosen["monetary_value"]
    columns = {
        "frequency": f, "recency_weeks": rec, "age_weeks": T,
        "p_alive": bgf.conditional_probability_alive(f, rec, T),
        "expected_purchases": bgf.conditional_expected_number_of_purchases_up_to_time(52, f, rec, T),
        "expected_order_value": ggf.conditional_expected_average_profit(f, m),
        "clv": ggf.customer_lifetime_value(bgf, f, rec, T, m, time=12, discount_rate=0.01, freq="W"),
    }
    print(json.dumps({
        "input_digest": hashlib.sha256(table.encode()).hexdigest(),
        "customers": {str(i): {key: float(list(values)[n]) for key, values in columns.items()}
                      for n, i in enumerate(ids)},
    }))


if __name__ == "__main__":
    main(sys.argv)
