"""The episode browser at the bottom of report.html: every evaluated problem, the starting and the trained
model side by side (attempt, reflection, retry, verdicts), with filters. Static: the episodes travel as
JSON inside the page and a few lines of JavaScript draw them, so the report opens from the run folder.

Model output is untrusted: the JSON is escaped so no text can close its <script> element, and the page
only ever sets ``textContent``. Filters can be set in the address, e.g. ``report.html#outcome=fixed&leak=yes``.
"""

from __future__ import annotations

import json
from typing import Any

MAX_CHARS = 2000  # per text field; the default run's page (500 problems x 2 models) is 0.55 MiB


def episodes(evals: dict[str, Any], labels: list[str]) -> list[dict[str, Any]]:
    """One entry per problem of the first model's evaluation, with each model's turns."""
    by_model = {lab: {r["id"]: r for r in evals[lab]["samples"]} for lab in labels}
    out = []
    for rec in evals[labels[0]]["samples"]:
        entry: dict[str, Any] = {
            "id": rec["id"],
            "category": rec.get("category"),
            "question": _clip(rec["prompt"][-1]["content"]) if rec.get("prompt") else "",
            "models": {},
        }
        for lab in labels:
            r = by_model[lab].get(rec["id"])
            if r is None:
                continue
            m = r.get("reflection_measures") or {}
            entry["models"][lab] = {
                "attempt": _clip(r["attempt"]),
                "attempt_ok": r["attempt_success"],
                "reason": str(r["attempt_reason"]),
                "feedback": _clip(r.get("feedback", "")),  # the verifier-feedback variant only
                "reflection": _clip(r.get("reflection", "")),
                "retry": _clip(r.get("retry", "")),
                "retry_ok": r.get("retry_success"),
                "retry_reason": str(r.get("retry_reason", "")),
                "second_try": r["second_try"],
                "leak": m.get("leak"),
            }
        out.append(entry)
    return out


def _clip(text: str) -> str:
    text = str(text)
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS] + "…"


def script_json(value: Any) -> str:
    """JSON that is safe inside <script>: no '<', '>' or '&' survive, so '</script>' cannot occur."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def section(evals: dict[str, Any], labels: list[str]) -> str:
    """The HTML of the episode browser (placed after the report's markdown body)."""
    data = {"labels": labels, "episodes": episodes(evals, labels)}
    return (
        "<h2 id='episodes-title'>Every evaluated episode</h2>"
        "<div id='filters'>"
        "<label>outcome <select id='f-outcome'><option value=''>all</option>"
        "<option value='fixed'>fixed by training</option><option value='broken'>broken by training</option>"
        "<option value='unchanged'>unchanged</option></select></label> "
        "<label>first-try reason <select id='f-reason'><option value=''>all</option></select></label> "
        "<label>reflection leaks an answer <select id='f-leak'><option value=''>all</option>"
        "<option value='yes'>yes</option><option value='no'>no</option></select></label> "
        "<span id='shown'></span></div>"
        "<div id='episodes'></div>"
        f"<script type='application/json' id='episode-data'>{script_json(data)}</script>"
        f"<script>{_JS}</script>"
    )


STYLE = (
    ".ep{border:1px solid #ccc;margin:8px 0;padding:6px}.ep h4{margin:2px 0;font-size:14px}"
    ".q{color:#555;font-size:13px;white-space:pre-wrap}.models{display:flex;gap:8px}.m{flex:1;min-width:0}"
    ".turn{white-space:pre-wrap;font-family:monospace;font-size:12px;background:#f6f6f6;margin:2px 0;padding:3px}"
    ".ok{color:#080}.bad{color:#b00}#filters{position:sticky;top:0;background:#fff;padding:6px 0}"
)

# Filters: outcome compares the first and the last model's second try; leak is any model's reflection.
_JS = r"""
(() => {
  const data = JSON.parse(document.getElementById('episode-data').textContent);
  const labels = data.labels, first = labels[0], last = labels[labels.length - 1];
  const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text; return e; };
  const code = r => r.reason.split(':')[0];
  const outcome = ep => {
    const a = ep.models[first], b = ep.models[last];
    if (!a || !b || labels.length < 2) return 'unchanged';
    return !a.second_try && b.second_try ? 'fixed' : a.second_try && !b.second_try ? 'broken' : 'unchanged';
  };
  const leaks = ep => Object.values(ep.models).some(m => m.leak === true);
  const reasons = [...new Set(data.episodes.flatMap(ep => Object.values(ep.models).map(code)))].sort();
  const sel = {outcome: document.getElementById('f-outcome'), reason: document.getElementById('f-reason'),
               leak: document.getElementById('f-leak')};
  for (const r of reasons) sel.reason.appendChild(Object.assign(el('option', '', r), {value: r}));
  const hash = new URLSearchParams(location.hash.slice(1));
  for (const [k, s] of Object.entries(sel)) if (hash.has(k)) s.value = hash.get(k);
  const turn = (name, text, ok, reason) => {
    const d = el('div', 'turn');
    d.appendChild(el('b', ok === true ? 'ok' : ok === false ? 'bad' : '',
      name + (ok === undefined || ok === null ? ' ' : ok ? ' ✓ ' : ' ✗ ') + (reason ? '(' + reason + ') ' : '')));
    d.appendChild(document.createTextNode(text));
    return d;
  };
  const draw = () => {
    const box = document.getElementById('episodes');
    box.replaceChildren();
    let shown = 0;
    for (const ep of data.episodes) {
      if (sel.outcome.value && outcome(ep) !== sel.outcome.value) continue;
      if (sel.reason.value && !Object.values(ep.models).some(m => code(m) === sel.reason.value)) continue;
      if (sel.leak.value && leaks(ep) !== (sel.leak.value === 'yes')) continue;
      shown += 1;
      const card = el('div', 'ep');
      card.appendChild(el('h4', '', ep.id + (ep.category ? ' [' + ep.category + ']' : '') + ' · ' + outcome(ep)));
      card.appendChild(el('div', 'q', ep.question));
      const row = el('div', 'models');
      for (const lab of labels) {
        const m = ep.models[lab], col = el('div', 'm');
        col.appendChild(el('b', '', lab + ' model'));
        if (m) {
          col.appendChild(turn('attempt', m.attempt, m.attempt_ok, m.attempt_ok ? '' : m.reason));
          const leak = m.leak ? 'leaks an answer' : '';
          if (m.feedback) col.appendChild(turn('verifier feedback', m.feedback, undefined, ''));
          if (m.reflection) col.appendChild(turn('reflection', m.reflection, undefined, leak));
          if (m.retry) col.appendChild(turn('retry', m.retry, m.retry_ok, m.retry_ok ? '' : m.retry_reason));
        }
        row.appendChild(col);
      }
      card.appendChild(row);
      box.appendChild(card);
    }
    document.getElementById('shown').textContent = shown + ' of ' + data.episodes.length + ' problems shown';
    document.body.dataset.shown = String(shown);
  };
  for (const s of Object.values(sel)) s.addEventListener('change', draw);
  draw();
  document.body.dataset.renderMs = String(Math.round(performance.now()));  // since navigation start
})();
"""
