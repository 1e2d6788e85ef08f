"""How far training moved the weights: ||A - base|| for each trained model A, their ratio and cosine.

    .venv/bin/python benchmarks/update_norm.py --base default runs/a/boost/model runs/b/boost/model

Used to check that a bf16-mixed boost moves the weights as far as an fp32 one (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import argparse

import torch

from reflectrl.models import load_model


def flat_update(model, base: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([(p.detach().double() - base[n]).flatten() for n, p in model.named_parameters()])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default="default", help="The model both started from.")
    ap.add_argument("models", nargs="+", help="Trained model folders; the first is the reference.")
    args = ap.parse_args()
    base_model, _ = load_model(args.base, dtype="fp32", device="cpu")
    base = {n: p.detach().double() for n, p in base_model.named_parameters()}
    updates = [flat_update(load_model(m, dtype="fp32", device="cpu")[0], base) for m in args.models]
    ref = updates[0]
    print(f"{'model':60s} {'||update||':>12s} {'/ first':>8s} {'cosine':>8s}")
    for name, u in zip(args.models, updates, strict=True):
        cosine = torch.nn.functional.cosine_similarity(u, ref, dim=0).item()
        print(f"{name:60s} {u.norm().item():12.4f} {u.norm().item() / ref.norm().item():8.3f} {cosine:8.3f}")


if __name__ == "__main__":
    main()
