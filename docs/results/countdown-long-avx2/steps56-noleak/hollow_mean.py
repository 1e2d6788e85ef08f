"""The hollow-gain guard over several training seeds: per problem the mean of the seeds' non-hollow second try
(solved first, or by a retry whose reflection did not already hold a right answer) minus the boost's, with
reflectrl.stats' paired bootstrap (the interval covers problems, not reruns of training)."""

import sys

from hollow import load, solid  # importing it prints its per-run lines for the same arguments
from reflectrl.stats import paired_diff_ci

base_dir, *runs = sys.argv[1:]
base, seeds = load(base_dir), [load(r) for r in runs]
ids = sorted(set(base).intersection(*seeds))
a = [float(solid(base[i])) for i in ids]
b = [sum(solid(s[i]) for s in seeds) / len(seeds) for i in ids]
mean, low, high = paired_diff_ci(a, b)
print(
    f"mean of {len(seeds)} seeds' non-hollow second try minus boost: {100 * mean:+.1f} pts [{100 * low:+.1f}, "
    f"{100 * high:+.1f}] (paired bootstrap 95%), {len(ids)} problems"
)
