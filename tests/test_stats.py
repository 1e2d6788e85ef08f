"""stats.py against values computed by hand or published elsewhere."""

import json
import math

import pytest

from reflectrl.stats import Rate, mcnemar_exact, paired_diff_ci, rate, t_interval, wilson


def test_wilson_interval_known_values():
    # Wilson (1927) 95% intervals, as statsmodels' proportion_confint(method="wilson") gives them.
    assert (round(wilson(5, 10).low, 4), round(wilson(5, 10).high, 4)) == (0.2366, 0.7634)
    assert (wilson(0, 10).low, round(wilson(0, 10).high, 4)) == (0.0, 0.2775)
    assert (round(wilson(10, 10).low, 4), round(wilson(10, 10).high, 9)) == (0.7225, 1.0)
    assert math.isnan(wilson(0, 0).value) and str(wilson(0, 0)) == "n/a"
    assert str(rate([True, False, False, False])) == "25.0% [4.6, 69.9] (1/4)"


def test_exact_mcnemar_is_a_binomial_test_on_the_discordant_pairs():
    a = [True] * 3 + [False] * 5 + [True, False]  # 5 items only b solved, none only a, 2 concordant
    b = [True] * 3 + [True] * 5 + [True, False]
    assert mcnemar_exact(a, b) == pytest.approx(2 / 2**5)  # 0 of 5 discordant the other way
    one_of_ten = [False] * 9 + [True]
    assert mcnemar_exact(one_of_ten, [True] * 9 + [False]) == pytest.approx(2 * (1 + 10) / 2**10)
    assert mcnemar_exact([True, False], [True, False]) == 1.0  # no discordant pair: no evidence
    assert mcnemar_exact([True, False], [False, True]) == 1.0
    with pytest.raises(ValueError, match="same length"):
        mcnemar_exact([True], [])


def test_paired_bootstrap_interval():
    assert paired_diff_ci([False] * 20, [True] * 20) == (1.0, 1.0, 1.0)
    assert paired_diff_ci([True, False] * 10, [True, False] * 10) == (0.0, 0.0, 0.0)
    a = [False] * 100
    b = [True] * 30 + [False] * 70
    mean, low, high = paired_diff_ci(a, b)
    assert mean == 0.3 and low < 0.3 < high
    # The normal approximation for a 0/1 difference with p = 0.3 and n = 100 is 0.3 +- 0.09.
    assert low == pytest.approx(0.21, abs=0.03) and high == pytest.approx(0.39, abs=0.03)
    assert paired_diff_ci(a, b) == paired_diff_ci(a, b)  # seeded
    assert all(math.isnan(x) for x in paired_diff_ci([], []))


def test_evaluation_reports_retry_minus_resample_paired_on_the_same_failures():
    from reflectrl.evaluate import format_summary, summarize

    def record(retry: bool, resample: bool) -> dict:
        return {
            "first_try": False, "second_try": retry, "attempt_success": False, "attempt_reason": "wrong_value",
            "retry_success": retry, "resample_success": resample, "resample_second_try": resample,
        }  # fmt: skip

    solved = {**record(False, False), "first_try": True, "second_try": True, "attempt_success": True}
    records = [record(True, False)] * 6 + [record(False, True)] * 1 + [record(True, True)] * 3 + [solved] * 5
    paired = summarize(records)["retry_minus_resample"]
    assert paired["n"] == 10 and paired["diff"] == pytest.approx(0.5)  # 9/10 retries vs 4/10 resamples
    assert paired["p_mcnemar"] == pytest.approx(2 * (1 + 7) / 2**7)  # 6 vs 1 discordant
    assert paired["ci_low"] > 0
    assert "retry - resample (paired)      +50.0 pts" in format_summary(summarize(records))


def test_a_rate_read_back_from_a_summary_is_the_same_rate():
    r = wilson(3, 7)
    assert Rate.from_dict(json.loads(json.dumps(r.as_dict()))) == r


def test_t_interval_uses_student_t_with_n_minus_1_degrees_of_freedom():
    mean, low, high = t_interval([1.0, 2.0, 3.0])  # sd 1, t(0.975, 2 df) = 4.3027
    assert mean == 2.0
    assert (low, high) == pytest.approx((2 - 4.3027 / 3**0.5, 2 + 4.3027 / 3**0.5), abs=1e-4)
    assert t_interval([0.5, 0.5]) == (0.5, 0.5, 0.5)  # runs that agree exactly: no spread to widen it
    assert all(type(x) is float for x in t_interval([0.1, 0.3]))  # plain floats, for JSON and formatting
    with pytest.raises(ValueError, match="at least two"):
        t_interval([0.5])
