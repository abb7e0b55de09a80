// Rule preview: what a rule would have done over the chart's range, before
// it is saved. POST /rules/backtest replays the source's stored samples
// through the engine with the expression; its would-be pending and firing
// spans are drawn as bands over the chart (an SVG in uPlot's overlay,
// placed again at every draw of the chart), with a count of episodes.
// It uses app.js's state, api(), el(), $() and rangeBounds().
'use strict';

const preview = {
  key: '',        // tenant/host/metric/range the shown result is of
  result: null,   // the last answer of POST /rules/backtest for key
  prefilled: '',  // the expression last put in the field for the metric
  metric: '',     // the metric it was put in for
  seq: 0,         // the number of the latest request (older answers are dropped)
};

// previewKey names the chart a result is of: its source, metric and range
// (the last N seconds, or a custom from..to). A result of another range
// would show the new range as quiet where it was never replayed.
function previewKey() {
  const range = state.range ? 'last ' + state.range : (state.from && state.to ? state.from.getTime() + '..' + state.to.getTime() : '');
  return state.tenant + '/' + state.host + '/' + state.metric + '/' + range;
}

function buildPreview() {
  const box = $('preview');
  if (!box || box.childNodes.length) return;
  const form = el('form', 'preview-form');
  form.id = 'preview-form';
  const expr = el('input');
  expr.id = 'preview-expr';
  expr.setAttribute('aria-label', 'rule expression');
  expr.placeholder = 'avg("cpu_load", "1m") > 90';
  expr.spellcheck = false;
  const forIn = el('input');
  forIn.id = 'preview-for';
  forIn.setAttribute('aria-label', 'for');
  forIn.placeholder = '0s';
  forIn.size = 5;
  const run = el('button', '', 'Preview');
  run.type = 'submit';
  run.id = 'preview-run';
  const clear = el('button', '', 'clear');
  clear.type = 'button';
  clear.id = 'preview-clear';
  const forLabel = el('label', 'preview-for', 'for ');
  forLabel.append(forIn);
  form.append(el('span', 'preview-title', 'Preview rule'), expr, forLabel, run, clear);
  const legend = el('div', 'preview-legend');
  legend.id = 'preview-legend';
  legend.append(el('span', 'swatch pending'), el('span', '', 'would be pending'), el('span', 'swatch firing'), el('span', '', 'would be firing'));
  legend.hidden = true;
  const result = el('p', 'preview-result');
  result.id = 'preview-result';
  const error = el('p', 'error');
  error.id = 'preview-error';
  box.append(form, legend, result, error);
  form.addEventListener('submit', (ev) => { ev.preventDefault(); runPreview(); });
  clear.addEventListener('click', () => { preview.seq++; showPreview(null, ''); });
}

// prefillPreview puts an expression over the chart's metric in the field,
// unless the user wrote one: the rule in force that reads the metric (as
// the rules panel lists it), else a one-minute average over 90.
function prefillPreview() {
  const expr = $('preview-expr');
  if (!expr || !state.metric || preview.metric === state.metric) return;
  preview.metric = state.metric;
  if (expr.value && expr.value !== preview.prefilled) return;
  let text = 'avg(' + JSON.stringify(state.metric) + ', "1m") > 90';
  let forText = '';
  for (const li of document.querySelectorAll('#rules li')) {
    const code = li.querySelector('code');
    if (code && code.textContent.includes(JSON.stringify(state.metric))) {
      text = code.textContent;
      const f = /for (\S+)/.exec((li.querySelector('.src') || {}).textContent || '');
      forText = f ? f[1] : '';
      break;
    }
  }
  expr.value = preview.prefilled = text;
  $('preview-for').value = forText;
}

async function runPreview() {
  const expr = $('preview-expr').value.trim();
  if (!state.tenant || !state.host || !state.metric) { showPreview(null, 'Pick a source and a metric first.'); return; }
  if (!expr) { showPreview(null, 'Write an expression to preview, such as avg("cpu_load", "1m") > 90.'); return; }
  const { from, to } = rangeBounds();
  if (!from || !to || from >= to) { showPreview(null, 'Pick a range: from must be before to.'); return; }
  const body = { expr, host: state.host, from: from.toISOString(), to: to.toISOString() };
  const forText = $('preview-for').value.trim();
  if (forText) body.for = forText;
  const key = previewKey();
  const seq = ++preview.seq;
  const run = $('preview-run');
  run.disabled = true;
  $('preview-result').textContent = 'replaying ' + state.host + ' from ' + from.toLocaleTimeString() + ' to ' + to.toLocaleTimeString() + '…';
  $('preview-error').textContent = '';
  try {
    const res = await api('/rules/backtest?tenant=' + encodeURIComponent(state.tenant), {
      method: 'POST', body: JSON.stringify(body),
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    });
    if (seq !== preview.seq) return;
    if (key !== previewKey()) { showPreview(null, ''); return; } // the chart changed meanwhile
    preview.key = key;
    showPreview(res, '');
  } catch (e) {
    if (seq === preview.seq) showPreview(null, e.message);
  } finally {
    run.disabled = false;
  }
}

// showPreview shows an answer (null: none) or an error, and draws it.
function showPreview(res, error) {
  preview.result = res;
  if (!res) preview.key = '';
  const box = $('preview');
  $('preview-error').textContent = error || '';
  $('preview-legend').hidden = !res;
  box.dataset.episodes = res ? String(res.episodes) : '';
  box.dataset.fired = res ? String(res.fired) : '';
  let text = '';
  if (res) {
    const pendingOnly = res.episodes - res.fired;
    text = res.fired === 0 ? 'The rule would not have fired in this range' : (res.fired === 1 ? '1 episode' : res.fired + ' episodes') + ' would have fired';
    if (pendingOnly > 0) text += (res.fired ? '; ' : ': ') + pendingOnly + ' more would have been pending only';
    text += ' (' + new Date(res.from).toLocaleString() + ' to ' + new Date(res.to).toLocaleTimeString() + ', ' + res.stats.samples + ' samples).';
    if (res.spans_truncated) text += ' Only the first ' + res.spans.length + ' episodes are drawn.';
  }
  $('preview-result').textContent = text;
  if (state.plot) drawPreview(state.plot);
}

// bands turns the spans into the intervals to draw, in seconds: pending
// from pending_at until it fired (or ended), firing until it ended; an
// episode still open at the end of the range lasts until then, and one
// open at its start (carried) is drawn from there.
function previewBands(res) {
  const from = new Date(res.from).getTime() / 1000;
  const to = new Date(res.to).getTime() / 1000;
  const sec = (t) => (t ? new Date(t).getTime() / 1000 : null);
  const out = [];
  for (const sp of res.spans) {
    let pending = sec(sp.pending_at);
    let firing = sec(sp.firing_at);
    if (sp.carried) {
      pending = Math.max(pending, from);
      if (firing !== null) firing = Math.max(firing, from);
    }
    const end = sec(sp.end_at) ?? to;
    const base = { episode: sp.episode_id, host: sp.host, alert: sp.alertname, tags: sp.tags, carried: !!sp.carried };
    if (firing === null) {
      out.push(Object.assign({ state: 'pending', from: pending, to: end }, base));
      continue;
    }
    if (firing > pending) out.push(Object.assign({ state: 'pending', from: pending, to: firing }, base));
    out.push(Object.assign({ state: 'firing', from: firing, to: end }, base, { carried: base.carried && firing === pending }));
  }
  return out;
}

// drawPreview is called by the chart at every draw: it places the bands
// of the answer of the chart's source and metric over the plot, or
// removes them.
function drawPreview(u) {
  prefillPreview();
  const under = u.under;
  let svg = under.querySelector('svg.preview-spans');
  if (preview.result && preview.key !== previewKey()) showPreviewStale();
  if (!preview.result) { if (svg) svg.remove(); return; }
  const NS = 'http://www.w3.org/2000/svg';
  if (!svg) {
    svg = document.createElementNS(NS, 'svg');
    svg.setAttribute('class', 'preview-spans');
    under.prepend(svg);
  }
  const w = under.clientWidth;
  const h = under.clientHeight;
  svg.setAttribute('width', w);
  svg.setAttribute('height', h);
  const rects = previewBands(preview.result).map((b) => {
    const x0 = Math.max(0, Math.min(w, u.valToPos(b.from, 'x')));
    const x1 = Math.max(0, Math.min(w, u.valToPos(b.to, 'x')));
    const r = document.createElementNS(NS, 'rect');
    r.setAttribute('class', 'span ' + b.state);
    r.setAttribute('x', x0);
    r.setAttribute('y', 0);
    r.setAttribute('width', Math.max(x1 - x0, 1));
    r.setAttribute('height', h);
    r.dataset.state = b.state;
    r.dataset.from = new Date(b.from * 1000).toISOString();
    r.dataset.to = new Date(b.to * 1000).toISOString();
    r.dataset.episode = b.episode;
    r.dataset.host = b.host;
    if (b.carried) r.dataset.carried = 'true';
    const title = document.createElementNS(NS, 'title');
    title.textContent = b.alert + (b.tags ? ' ' + tagText(b.tags) : '') + ' would be ' + b.state + ' from ' +
      new Date(b.from * 1000).toLocaleTimeString() + ' to ' + new Date(b.to * 1000).toLocaleTimeString() +
      (b.carried ? ' (already ' + (b.state === 'firing' ? 'firing' : 'pending') + ' before)' : '');
    r.append(title);
    return r;
  });
  svg.replaceChildren(...rects);
}

// showPreviewStale drops an answer that is not of the chart shown.
function showPreviewStale() {
  preview.seq++;
  preview.result = null;
  preview.key = '';
  $('preview-legend').hidden = true;
  $('preview-result').textContent = '';
  $('preview').dataset.episodes = '';
  $('preview').dataset.fired = '';
}

buildPreview();
