"""The book's one interval on a mean covers the true mean 95 % of the time."""

import numpy as np
import pytest
import torch

from icl_book.stats import mean_and_interval


@pytest.mark.parametrize("bootstrap", [0, 200])
def test_the_interval_covers_the_mean_95_percent_of_the_time(bootstrap):
    rng = np.random.default_rng(0)
    trials, n = 400, 60
    samples = rng.exponential(1.0, size=(trials, n, 2))       # skewed, true mean 1 in both columns
    hits = 0
    for t in range(trials):
        ci = mean_and_interval(torch.from_numpy(samples[t]) if bootstrap else samples[t], bootstrap=bootstrap, seed=t)
        hits += sum(lo <= 1.0 <= hi for lo, hi in zip(ci["lo"], ci["hi"]))
    coverage = hits / (2 * trials)
    # 800 intervals: the binomial standard error at 95 % is 0.8 points; the exponential's skew
    # costs a normal interval about a point at n = 60
    assert 0.90 <= coverage <= 0.985, coverage


def test_the_normal_interval_is_mean_plus_minus_z_standard_errors():
    v = np.array([1.0, 2.0, 3.0, 4.0])
    ci = mean_and_interval(v)
    half = 1.96 * np.std(v, ddof=1) / 2
    assert ci["mean"] == 2.5 and ci["lo"] == pytest.approx(2.5 - half) and ci["hi"] == pytest.approx(2.5 + half)
    assert mean_and_interval(np.array([3.0])) == {"mean": 3.0, "lo": 3.0, "hi": 3.0}
    with pytest.raises(ValueError):
        mean_and_interval(np.array([]))
    with pytest.raises(ValueError):
        mean_and_interval(v, bootstrap=-1)
