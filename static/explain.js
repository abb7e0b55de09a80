// EventOps dashboard: the explanation of an alert transition (why it fired
// or resolved), shown under the alert in the live feed. Every text from the
// API is put in the page as text, never as HTML.
'use strict';

// explanationView returns a collapsible block that explains transition a,
// or null when it carries no explanation (records written before they did).
function explanationView(a) {
  const x = a && a.explanation;
  if (!x) return null;
  const ex = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  };
  const num = (v) => (v === null || v === undefined ? 'no data' : String(Math.round(Number(v) * 1000) / 1000));
  const time = (t) => (t ? new Date(t).toLocaleTimeString() : '');

  const det = ex('details', 'why');
  det.dataset.explained = a.state;
  // Opening the explanation is not a click on the alert (which picks its source).
  det.addEventListener('click', (e) => e.stopPropagation());
  const r = x.resolution;
  let head = 'why';
  if (r) head = 'why: ended by ' + r.by.replace('_', ' ') + ' at ' + num(r.value);
  else if (x.crossed) head = 'why: ' + num(x.crossed.value) + ' ' + x.crossed.side + ' ' + num(x.crossed.threshold);
  det.append(ex('summary', '', head));

  if (x.condition) det.append(ex('code', 'cond', 'expr: ' + x.condition));
  if (x.clear) det.append(ex('code', 'cond', 'clear: ' + x.clear));
  if (x.crossed) {
    det.append(ex('div', 'crossed', x.crossed.comparison + ' → ' + num(x.crossed.value) + ' ' + x.crossed.op + ' ' +
      num(x.crossed.threshold) + (x.crossed.side ? ' (' + x.crossed.side + ')' : '')));
  }
  if (x.features && x.features.length) {
    const t = ex('table', 'why-features');
    const hr = ex('tr');
    ['feature', 'value', 'samples', 'from', 'to'].forEach((h) => hr.append(ex('th', '', h)));
    t.append(hr);
    x.features.forEach((f) => {
      const tr = ex('tr');
      tr.dataset.feature = f.feature;
      tr.append(ex('td', '', f.feature), ex('td', '', num(f.value)), ex('td', '', f.samples === undefined ? '' : f.samples),
        ex('td', '', time(f.from)), ex('td', '', time(f.to)));
      t.append(tr);
    });
    det.append(t);
  }
  if (x.samples && x.samples.length) {
    const ul = ex('ul', 'why-samples');
    x.samples.forEach((s) => {
      const o = s.origin;
      ul.append(ex('li', '', s.metric + ' = ' + num(s.value) + ' at ' + time(s.at) +
        (o ? ' · ' + o.topic + '/' + o.partition + '@' + o.offset : '')));
    });
    det.append(ul);
  }
  const left = [];
  if (x.samples_omitted) left.push(x.samples_omitted + ' samples');
  if (x.features_omitted) left.push(x.features_omitted + ' features');
  if (left.length || x.cut_text) det.append(ex('div', 'omitted', 'left out to stay small: ' + (left.join(', ') || 'part of the condition')));
  return det;
}
