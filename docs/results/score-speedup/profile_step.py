"""Where an R3 rollout's time goes: reflections, retries, expected-success scoring (the long config, l56 boost)."""
import sys, time
from pathlib import Path
import torch
from reflectrl.config_file import load_config
from reflectrl.pipeline import load
from reflectrl.rollout import make_engine
from reflectrl.tasks import get_task
from reflectrl.train.pool import Mined
from reflectrl.train.r3 import ReflectRetry

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
cfg = load_config(Path("configs/countdown-long.yaml"))
cfg.model.threads = threads
L = Path("/work/exp/s40/l56")
model, tok = load(cfg, str(L / "boost/model"), training=True)
engine = make_engine(cfg.engine, model, tok, False)
task = get_task(cfg.task.name, **cfg.task.options)
mined = Mined.read(L / "mine/failures.jsonl")
rollout = ReflectRetry(task, mined.failures, cfg.episode, cfg.train, False, mined.queries, cfg.mine)
times = {"generate": [], "score": []}
for name in times:
    orig = getattr(engine, name)
    def timed(*a, _o=orig, _n=name, **k):
        t = time.perf_counter(); r = _o(*a, **k); times[_n].append(time.perf_counter() - t); return r
    setattr(engine, name, timed)
torch.manual_seed(0)
for step in range(2):
    items = rollout.pool.draw(2, 0, 1)
    t = time.perf_counter()
    groups, gen = rollout.sample(engine, items, 1000 + step)
    print(f"step {step}: {time.perf_counter()-t:.1f} s, {gen} tokens; generate {[round(x,1) for x in times['generate']]}"
          f" score n={len(times['score'])} sum={sum(times['score']):.1f}", flush=True)
    times = {k: [] for k in times}
