#!/usr/bin/env python3
"""lifetimes 0.11's BG/NBD and Gamma-Gamma fits on a summary CSV (frequency, recency, T,
monetary_value), the reference benches/clv.rs is timed against (whole processes):

    python3 benches/lifetimes_fit.py SUMMARY.csv
"""
import json
import sys
import time
import warnings

import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter

warnings.simplefilter("ignore")
summary = pd.read_csv(sys.argv[1])
started = time.perf_counter()
bgf = BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"])
repeat = summary[summary["frequency"] > 0]
ggf = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
print(json.dumps({
    "customers": len(summary),
    "fit_s": time.perf_counter() - started,
    "bgnbd": dict(bgf.params_), "bgnbd_objective": bgf._negative_log_likelihood_,
    "gamma_gamma": dict(ggf.params_), "gamma_gamma_objective": ggf._negative_log_likelihood_,
}))
