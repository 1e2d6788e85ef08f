"""Training metrics per eight steps: reward, expected retry success, format match, leak share, KL to the start."""
import json, sys
for path in sys.argv[1:]:
    rows = [r for r in map(json.loads, open(path)) if "step" in r]
    print(path)
    for i in range(0, len(rows), 8):
        ch = rows[i:i + 8]
        m = lambda k: sum(r[k] for r in ch if k in r) / max(1, sum(k in r for r in ch))  # a step may lack a key
        print(f"  steps {ch[0]['step']:2d}-{ch[-1]['step']:2d}: reward {m('reward'):.3f} expected {m('expected_success'):.3f} "
              f"format {m('format_match'):.2f} leak {m('reflection/leak'):.3f} kl {m('kl'):.3f} refl-tokens {m('reflection_tokens'):.1f}")
