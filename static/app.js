// EventOps dashboard: plain JavaScript, no build step. Every request goes
// to the API of the page's own origin with the session cookie (when keys
// are required); every text from the API is put in the page as text, never
// as HTML.
'use strict';

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 5000;
const FEED_MAX = 200;

const state = {
  session: null,
  tenant: '',
  host: '',
  metric: '',
  range: 3600,      // seconds, or 0 for the custom range
  from: null, to: null,
  es: null,
  alerts: new Map(), // episode_id -> {alert, trail, el}
  flapping: new Map(), // labelKey(labels) -> an alert of GET /flapping
  flappingChecked: null, // when GET /flapping last answered
  plot: null, plotKey: '',
  timers: [],
};

class APIError extends Error {
  constructor(status, detail, retryAfter) {
    super(detail || ('HTTP ' + status));
    this.status = status;
    this.retryAfter = retryAfter; // seconds the server asked to wait (429, 503), or 0
  }
}

// The API runs at most two of a tenant's database reads and writes at once
// (its default) and refuses a third with 429. Opening a tenant asks for
// several, and the refreshes fall on the same moments: the dashboard keeps
// to two at a time itself, in the order asked, so that it does not refuse
// its own requests. Other tabs and clients share the tenant's slots, so a
// caller still handles a 429.
const QUERY_SLOTS = 2;
const querySlots = { busy: 0, waiting: [] };
const freeOfSlots = /^\/(features|auth)\/|^\/rules\/$/; // routes that run no query (POST /rules/backtest does)

async function takeQuerySlot() {
  if (querySlots.busy < QUERY_SLOTS) { querySlots.busy++; return; }
  await new Promise((resolve) => querySlots.waiting.push(resolve));
}

function releaseQuerySlot() {
  const next = querySlots.waiting.shift();
  if (next) next(); else querySlots.busy--;
}

async function api(path, opts) {
  const slot = !freeOfSlots.test(path.split('?')[0] + '/');
  if (slot) await takeQuerySlot();
  try {
    const r = await fetch(path, Object.assign({ credentials: 'same-origin', headers: { Accept: 'application/json' } }, opts || {}));
    if (r.status === 401 && state.session && state.session.keys_required) {
      showLogin('Your session has ended: log in again.');
    }
    if (!r.ok) {
      let detail = '';
      try { detail = (await r.json()).detail; } catch (e) { /* not a problem document */ }
      throw new APIError(r.status, detail, Number(r.headers.get('Retry-After')) || 0);
    }
    return r.status === 204 ? null : await r.json();
  } finally {
    if (slot) releaseQuerySlot();
  }
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function ago(t) {
  const s = Math.round((Date.now() - new Date(t).getTime()) / 1000);
  if (!isFinite(s)) return '';
  if (s < 5) return 'just now';
  if (s < 60) return s + 's ago';
  if (s < 3600) return Math.floor(s / 60) + 'm ago';
  if (s < 86400) return Math.floor(s / 3600) + 'h ago';
  return Math.floor(s / 86400) + 'd ago';
}

function fmt(v) {
  if (v === null || v === undefined || v === '') return '–';
  const n = Number(v);
  if (!isFinite(n)) return String(v);
  if (Math.abs(n) >= 1e6 || (Math.abs(n) < 1e-3 && n !== 0)) return n.toExponential(2);
  return String(Math.round(n * 1000) / 1000);
}

// --- the URL hash keeps the view: #tenant=acme&host=h&metric=cpu_load&range=3600

function readHash() {
  const h = new URLSearchParams(location.hash.slice(1));
  state.tenant = h.get('tenant') || state.tenant;
  state.host = h.get('host') || state.host;
  state.metric = h.get('metric') || state.metric;
  if (h.get('range')) state.range = Number(h.get('range')) || 3600;
}

function writeHash() {
  const h = new URLSearchParams();
  if (state.tenant) h.set('tenant', state.tenant);
  if (state.host) h.set('host', state.host);
  if (state.metric) h.set('metric', state.metric);
  if (state.range && state.range !== 3600) h.set('range', state.range);
  history.replaceState(null, '', '#' + h.toString());
}

// --- session

function showLogin(msg) {
  $('login').hidden = false;
  $('login-error').textContent = msg || '';
  $('key').focus();
}

async function login(ev) {
  ev.preventDefault();
  const key = $('key').value.trim();
  $('key').value = '';
  try {
    await api('/auth/session', { method: 'POST', body: JSON.stringify({ key }), headers: { 'Content-Type': 'application/json', Accept: 'application/json' } });
    $('login').hidden = true;
    await start();
  } catch (e) {
    $('login-error').textContent = e.status === 401 ? 'Unknown key.' : e.message;
  }
}

async function logout() {
  await fetch('/auth/session', { method: 'DELETE', credentials: 'same-origin' });
  location.hash = '';
  location.reload();
}

// --- tenants

async function loadTenants() {
  const s = state.session;
  const sel = $('tenant');
  let names = [];
  let newest = '';
  if (s.keys_required && !s.admin) {
    names = [s.tenant];
  } else {
    try {
      const tenants = (await api('/tenants')).tenants;
      names = tenants.map((t) => t.tenant);
      // Without a tenant in the URL, open on the one that sent last: where
      // the data is (a load generator's tenant-00, say), not the first name.
      let last = -Infinity;
      for (const t of tenants) {
        const at = Date.parse(t.last_seen || '');
        if (at > last) { last = at; newest = t.tenant; }
      }
    } catch (e) { names = []; }
  }
  if (state.tenant && !names.includes(state.tenant)) names.unshift(state.tenant);
  const before = Array.from(sel.options).map((o) => o.value).join('\n');
  if (before !== names.join('\n')) {
    sel.replaceChildren(...names.map((n) => { const o = el('option', '', n); o.value = n; return o; }));
  }
  sel.disabled = s.keys_required && !s.admin;
  if (!state.tenant && names.length) {
    state.tenant = newest || names[0];
    onTenant();
  }
  sel.value = state.tenant;
}

function onTenant() {
  writeHash();
  state.alerts.clear();
  state.flapping.clear();
  $('feed').replaceChildren();
  connectStream();
  loadFlapping();
  loadSources();
  loadRules();
  loadSilences();
  if (typeof loadNotifications === 'function') loadNotifications(); // notifications.js
  loadSource();
}

// --- the live alert feed (Server-Sent Events)

function connectStream() {
  if (state.es) state.es.close();
  const q = new URLSearchParams();
  if (state.tenant) q.set('tenant', state.tenant);
  if ($('f-severity').value) q.set('severity', $('f-severity').value);
  if ($('f-state').value) q.set('state', $('f-state').value);
  const es = new EventSource('/alerts/stream' + (q.toString() ? '?' + q : ''));
  state.es = es;
  es.onopen = () => { $('live').textContent = 'live'; $('live').className = 'live on'; };
  es.onerror = () => {
    $('live').textContent = 'reconnecting…'; $('live').className = 'live off';
    // A refused connection (503 while the server starts) is not retried by
    // EventSource itself: start a fresh stream, which begins with the
    // active alerts.
    if (es.readyState === EventSource.CLOSED && state.es === es) {
      setTimeout(() => {
        if (state.es !== es) return;
        state.alerts.clear(); $('feed').replaceChildren(); renderFeedCount();
        connectStream();
      }, 5000);
    }
  };
  // The server could not resume where the stream stopped: start over from
  // the active alerts that follow.
  es.addEventListener('reset', () => { state.alerts.clear(); $('feed').replaceChildren(); renderFeedCount(); });
  es.addEventListener('alert', (e) => {
    try { onAlert(JSON.parse(e.data)); } catch (err) { console.error('bad alert event', err); }
  });
  es.addEventListener('activity', (e) => {
    try { onActivity(JSON.parse(e.data)); } catch (err) { console.error('bad activity event', err); }
  });
}

function onAlert(a) {
  const id = a.episode_id;
  let item = state.alerts.get(id);
  if (!item) {
    item = { trail: [], el: el('li', 'alert') };
    item.el.dataset.episode = id;
    state.alerts.set(id, item);
  }
  if (!item.trail.length || item.trail[item.trail.length - 1] !== a.state) item.trail.push(a.state);
  item.alert = a;
  renderAlert(item);
  const feed = $('feed');
  feed.prepend(item.el);
  item.el.classList.remove('flash');
  void item.el.offsetWidth; // restart the animation
  item.el.classList.add('flash');
  while (feed.children.length > FEED_MAX) {
    const last = feed.lastElementChild;
    state.alerts.delete(last.dataset.episode);
    last.remove();
  }
  renderFeedCount();
  loadFlappingSoon();
  if (a.host === state.host) loadFeatures();
}

function renderAlert(item) {
  const a = item.alert;
  const li = item.el;
  li.className = 'alert ' + (a.severity || '') + ' ' + a.state + (a.shadow ? ' shadow' : '');
  li.dataset.state = a.state;
  li.dataset.shadow = a.shadow ? 'true' : '';
  li.dataset.host = a.host;
  const tags = tagText(a.tags);
  li.dataset.tags = tags;
  const top = el('div', 'top');
  top.append(el('span', 'badge ' + a.state, a.state), el('span', 'name', a.alertname || a.rule || 'alert'),
    el('span', 'src', (state.tenant ? '' : a.tenant + '/') + a.host + (tags ? ' ' + tags : '')),
    el('span', 'when', (a.at || a.ts) ? new Date(a.at || a.ts).toLocaleTimeString() : ''));
  if (a.shadow) {
    const b = el('span', 'badge shadow', 'shadow');
    b.title = 'a rule in shadow mode: stored and streamed, never sent to receivers';
    top.querySelector('.name').after(b);
  }
  const ann = a.annotations || {};
  const summary = el('div', 'summary', ann.summary || a.message || '');
  const trail = el('div', 'trail', item.trail.join(' → ') + (a.value !== undefined && a.value !== null ? ' · value ' + fmt(a.value) : '') +
    (a.severity ? ' · ' + a.severity : ''));
  li.replaceChildren(top, summary, trail);
  const why = explanationView(a);
  if (why) li.append(why);
  li.append(activityView(item));
  li.onclick = () => selectSource(a.host);
  markFlapping(item);
}

// --- flapping: what the notify stage holds as flapping (GET /flapping)

// labelKey names an alert by its labels (its fingerprint's identity):
// every episode of one rule on one series has the same.
function labelKey(labels) {
  const l = labels || {};
  return JSON.stringify(Object.keys(l).sort().map((k) => [k, l[k]]));
}

// loadFlapping asks which of the tenant's alerts flap now and marks their
// entries in the feed. A failure keeps the marks as they were: their title
// says when they were last checked.
let flappingSoon = null;
async function loadFlapping() {
  clearTimeout(flappingSoon); flappingSoon = null;
  if (!state.tenant) return;
  const tenant = state.tenant;
  let body;
  try {
    body = await api('/flapping?tenant=' + encodeURIComponent(tenant));
  } catch (e) {
    if (e.status === 503 || e.status === 404) { state.flapping.clear(); state.flappingChecked = null; state.alerts.forEach(markFlapping); }
    return;
  }
  if (tenant !== state.tenant) return;
  state.flapping = new Map(body.alerts.map((f) => [labelKey(f.labels), f]));
  state.flappingChecked = new Date();
  state.alerts.forEach(markFlapping);
}

// loadFlappingSoon looks again shortly after a transition: the notify stage
// decides about flapping after the transition is on the stream.
function loadFlappingSoon() {
  if (!flappingSoon) flappingSoon = setTimeout(loadFlapping, 1000);
}

// markFlapping shows on an alert's entry whether the notify stage holds
// the alert as flapping, as of its last record and of the last check.
function markFlapping(item) {
  const f = state.flapping.get(labelKey(item.alert.labels));
  const top = item.el.querySelector('.top');
  let badge = top && top.querySelector('.badge.flapping');
  item.el.dataset.flapping = f ? 'true' : '';
  if (!f) { if (badge) badge.remove(); return; }
  if (!badge) {
    badge = el('span', 'badge flapping', 'flapping');
    top.querySelector('.name').after(badge);
  }
  const settles = new Date(f.settles_at);
  const late = Date.now() > settles.getTime();
  badge.classList.toggle('late', late);
  badge.title = f.changes + ' state changes within ' + f.window + ': its notifications are held until it settles' +
    (late ? '; it should have settled at ' + settles.toLocaleTimeString() + ', which the notify stage has not recorded yet'
      : ' (at ' + settles.toLocaleTimeString() + ' without another change)') +
    '. As the notify stage recorded it at ' + new Date(f.updated_at).toLocaleTimeString() +
    ', checked ' + state.flappingChecked.toLocaleTimeString() + '.';
}

// tagText writes a series' tags as a selector: {core="1",env="prod"}.
function tagText(tags) {
  const keys = Object.keys(tags || {}).sort();
  return keys.length ? '{' + keys.map((k) => k + '=' + JSON.stringify(tags[k])).join(',') + '}' : '';
}

function renderFeedCount() {
  let firing = 0;
  state.alerts.forEach((i) => { if (i.alert.state === 'firing' && !i.alert.shadow) firing++; });
  $('feed-count').textContent = state.alerts.size ? firing + ' firing' : '';
  $('feed-empty').hidden = state.alerts.size > 0;
}

// --- sources

async function loadSources() {
  if (!state.tenant) { $('sources').replaceChildren(); $('sources-empty').hidden = false; return; }
  let body;
  try { body = await api('/sources?tenant=' + encodeURIComponent(state.tenant)); } catch (e) { return; }
  const list = $('sources');
  list.replaceChildren(...body.sources.map((s) => {
    const li = el('li', 'source' + (s.host === state.host ? ' on' : ''));
    li.dataset.host = s.host;
    const seen = el('span', 'seen', ago(s.last_seen));
    seen.title = 'last event ' + s.last_seen;
    if (Date.now() - new Date(s.last_seen).getTime() > 5 * 60 * 1000) seen.classList.add('stale');
    li.append(seen, el('div', 'host', s.host));
    const meta = el('div', 'meta');
    const m = s.meta || {};
    for (const k of ['service', 'owner', 'region']) if (m[k]) meta.append(el('span', 'chip', k + ': ' + m[k]));
    for (const [k, v] of Object.entries(m.tags || {})) meta.append(el('span', 'chip', k + '=' + v));
    if (meta.childNodes.length) li.append(meta);
    li.onclick = () => selectSource(s.host);
    return li;
  }));
  $('sources-count').textContent = body.sources.length ? String(body.sources.length) : '';
  $('sources-empty').hidden = body.sources.length > 0;
  if (!state.host && body.sources.length) selectSource(body.sources[0].host);
}

function selectSource(host) {
  if (host === state.host) return;
  state.host = host;
  state.metric = '';
  for (const li of $('sources').children) li.classList.toggle('on', li.dataset.host === host);
  loadSource();
}

async function loadSource() {
  writeHash();
  $('chart-source').textContent = state.host || 'pick a source';
  if (!state.tenant || !state.host) return;
  await loadMetricNames();
  refreshChart();
  loadFeatures();
}

async function loadMetricNames() {
  let names = [];
  try {
    names = (await api('/sources/' + encodeURIComponent(state.host) + '/metrics?tenant=' + encodeURIComponent(state.tenant))).metrics;
  } catch (e) { names = []; }
  if (state.metric && !names.includes(state.metric)) names.unshift(state.metric);
  if (!state.metric && names.length) state.metric = names.includes('cpu_load') ? 'cpu_load' : names[0];
  const sel = $('metric');
  const before = Array.from(sel.options).map((o) => o.value).join('\n');
  if (before !== names.join('\n')) {
    sel.replaceChildren(...names.map((n) => { const o = el('option', '', n); o.value = n; return o; }));
  }
  sel.value = state.metric;
  writeHash();
}

// --- the chart (uPlot)

function rangeBounds() {
  if (state.range) {
    const to = new Date();
    return { from: new Date(to.getTime() - state.range * 1000), to };
  }
  return { from: state.from, to: state.to };
}

async function refreshChart() {
  if (!state.tenant || !state.host || !state.metric) return;
  const { from, to } = rangeBounds();
  if (!from || !to || from >= to) { $('chart-note').textContent = 'Pick a range: from must be before to.'; return; }
  const span = (to - from) / 1000;
  const q = new URLSearchParams({ tenant: state.tenant, host: state.host, from: from.toISOString(), to: to.toISOString() });
  // Long ranges are bucketed (about 600 points); an hour or less is raw.
  if (span > 3600) { q.set('step', Math.max(1, Math.round(span / 600)) + 's'); q.set('agg', 'avg'); }
  const key = state.tenant + '/' + state.host + '/' + state.metric;
  let body;
  try {
    body = await api('/metrics/' + encodeURIComponent(state.metric) + '?' + q);
  } catch (e) {
    $('chart-note').textContent = e.message;
    return;
  }
  if (key !== state.tenant + '/' + state.host + '/' + state.metric) return; // the view changed meanwhile
  // One line per series (a set of tags) of the metric, on the union of
  // their times; a series without a point at a time has a gap there.
  const lines = body.series.filter((s) => s.metric === state.metric);
  const times = Array.from(new Set(lines.flatMap((s) => s.points.map((p) => new Date(p.ts).getTime() / 1000)))).sort((a, b) => a - b);
  const at = new Map(times.map((t, i) => [t, i]));
  const data = [times, ...lines.map((s) => {
    const ys = new Array(times.length).fill(null);
    s.points.forEach((p) => { ys[at.get(new Date(p.ts).getTime() / 1000)] = p.value; });
    return ys;
  })];
  const unit = lines.length && lines[0].unit ? lines[0].unit : '';
  const names = lines.map((s) => s.series || s.metric);
  drawChart(key + '/' + unit + '/' + names.join('\n'), data, unit, from, to, names);
  const chart = $('chart');
  const points = lines.reduce((n, s) => n + s.points.length, 0);
  const first = lines.length ? lines[0].points : [];
  chart.dataset.points = String(points);
  chart.dataset.series = String(lines.length);
  chart.dataset.last = first.length ? String(first[first.length - 1].value) : '';
  $('chart-note').textContent = points ? points + ' points' + (lines.length > 1 ? ' in ' + lines.length + ' series' : '') +
    (body.step ? ' (' + body.agg + ' per ' + body.step + ')' : '') : 'No points of ' + state.metric + ' in this range.';
}

const lineColors = ['#7c9cff', '#f2a65a', '#5ad1a0', '#e36d8a', '#c39bff', '#e8d36a', '#5ec7e8', '#b0b8c4'];

function drawChart(key, data, unit, from, to, names) {
  const box = $('chart');
  const width = Math.max(280, box.clientWidth);
  // The x scale is the chosen range, also where there are no points.
  state.xRange = [from.getTime() / 1000, to.getTime() / 1000];
  const scales = { x: { time: true, range: () => state.xRange } };
  if (state.plot && state.plotKey === key) {
    state.plot.setData(data);
    return;
  }
  if (state.plot) state.plot.destroy();
  box.replaceChildren();
  const opts = {
    width, height: 300, scales,
    axes: [
      { stroke: '#8a96a8', grid: { stroke: '#232b36' }, ticks: { stroke: '#232b36' } },
      { stroke: '#8a96a8', grid: { stroke: '#232b36' }, ticks: { stroke: '#232b36' }, label: unit, size: 60 },
    ],
    // Each series its own line, named by its tags in the legend.
    series: [{}, ...(names.length ? names : [state.metric]).map((name, i) => {
      const c = lineColors[i % lineColors.length];
      return { label: name, stroke: c, width: 2, fill: names.length > 1 ? undefined : 'rgba(124,156,255,0.12)',
        points: { show: true, size: 6, fill: c }, spanGaps: names.length > 1 };
    })],
    cursor: { drag: { x: true, y: false } },
    // The rule preview (preview.js) draws its spans over the plot.
    hooks: { draw: [(u) => { if (typeof drawPreview === 'function') drawPreview(u); }] },
  };
  state.plot = new uPlot(opts, data, box);
  state.plotKey = key;
}

// --- live features

async function loadFeatures() {
  if (!state.tenant || !state.host) return;
  const box = $('features');
  let snap;
  try {
    snap = await api('/features/' + encodeURIComponent(state.tenant) + '/' + encodeURIComponent(state.host));
  } catch (e) {
    box.replaceChildren(el('p', 'empty', e.status === 404 ? 'No live state for this source yet.' : e.message));
    return;
  }
  const metrics = Object.keys(snap.metrics || {}).sort();
  const windows = new Set();
  metrics.forEach((m) => Object.keys(snap.metrics[m].windows || {}).forEach((w) => windows.add(w)));
  const wl = Array.from(windows).sort((a, b) => parseDur(a) - parseDur(b));
  const table = el('table', 'features');
  const head = el('tr');
  head.append(el('th', '', 'metric'), el('th', '', 'last'), el('th', '', 'silent'));
  wl.forEach((w) => head.append(el('th', '', 'avg ' + w), el('th', '', 'max ' + w), el('th', '', 'rate/s ' + w)));
  table.append(head);
  for (const m of metrics) {
    const s = snap.metrics[m];
    const tr = el('tr');
    tr.dataset.metric = m;
    tr.append(el('td', '', m + (s.unit ? ' (' + s.unit + ')' : '')), el('td', '', fmt(s.last && s.last.value)),
      el('td', '', s.seconds_since_last === null || s.seconds_since_last === undefined ? '–' : fmt(s.seconds_since_last) + 's'));
    wl.forEach((w) => {
      const x = (s.windows || {})[w] || {};
      tr.append(el('td', '', fmt(x.avg)), el('td', '', fmt(x.max)), el('td', '', fmt(x.rate_per_sec)));
    });
    table.append(tr);
  }
  const wrap = el('div', 'features-wrap');
  wrap.append(table);
  const parts = [wrap];
  if ((snap.alerts || []).length) {
    parts.push(el('p', 'empty', 'Alert states: ' + snap.alerts.map((a) => a.state + (a.tags ? ' ' + tagText(a.tags) : '') +
      ' since ' + new Date(a.since).toLocaleTimeString()).join(', ')));
  }
  box.replaceChildren(...parts);
  $('features-age').textContent = snap.meta && snap.meta.service ? snap.meta.service : '';
}

function parseDur(s) {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(s);
  if (!m) return 0;
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[m[2]];
}

// --- rules and silences

async function loadRules() {
  const list = $('rules');
  let body;
  try {
    body = await api('/rules' + (state.tenant ? '?tenant=' + encodeURIComponent(state.tenant) : ''));
  } catch (e) {
    if (list.dataset.view !== state.tenant) $('rules-count').textContent = '';
    panelFailed('rules', list, state.tenant, null, e, loadRules);
    return;
  }
  panelLoaded('rules', list, state.tenant);
  list.replaceChildren(...body.rules.map((r) => {
    const li = el('li');
    const title = el('div');
    title.append(el('strong', '', r.name), el('span', 'badge sev ' + (r.severity === 'critical' ? 'firing' : 'pending'), r.severity || 'none'));
    if (r.shadow) title.append(el('span', 'badge shadow', 'shadow'));
    if (r.for) title.append(el('span', 'src', ' for ' + r.for));
    li.append(title, el('code', '', r.expr));
    if (r.annotations && r.annotations.summary) li.append(el('div', 'src', r.annotations.summary));
    return li;
  }));
  $('rules-count').textContent = String(body.rules.length);
}

// silenceOrder lists the silences that mute now first, then those to come,
// then those that ended.
const silenceOrder = { active: 0, pending: 1, expired: 2 };

async function loadSilences() {
  const list = $('silences');
  let items = [];
  if (state.tenant) {
    try {
      items = (await api('/silences?tenant=' + encodeURIComponent(state.tenant))).silences || [];
    } catch (e) {
      panelFailed('silences', list, state.tenant, $('silences-empty'), e, loadSilences);
      return;
    }
  }
  panelLoaded('silences', list, state.tenant);
  const stateOf = (s) => s.state || s.status || 'active';
  items.sort((a, b) => (silenceOrder[stateOf(a)] ?? 3) - (silenceOrder[stateOf(b)] ?? 3));
  list.replaceChildren(...items.map((s) => {
    const st = stateOf(s);
    const li = el('li', 'silence-' + st);
    li.dataset.state = st;
    const when = st === 'pending' ? 'from ' + new Date(s.starts_at).toLocaleString() + ' until ' : st === 'expired' ? 'ended ' : 'until ';
    li.append(el('span', 'badge silence-state', st), ' ', el('code', '', (s.matchers || []).join(', ')),
      el('div', 'src', when + new Date(s.ends_at).toLocaleString() + (s.created_by ? ' · ' + s.created_by : '') + (s.comment ? ' · ' + s.comment : '')));
    return li;
  }));
  $('silences-empty').hidden = items.length > 0;
}

// --- panels that fail to load

// A panel loaded once (rules, silences, notifications) that fails says so
// instead of looking empty, and is loaded again soon: after the server's
// Retry-After (429: the tenant's query slots are taken; 503), else after
// a delay that doubles from 1 s up to REFRESH_MS. The API refuses a
// tenant's third concurrent query, and opening a tenant asks for several
// at once, as do the refreshes that fall on the same moment. A refresh
// that fails leaves what the panel shows, marked as not refreshed. After a
// 401 the login form shows; logging in loads every panel again.
const retries = new Map(); // panel name -> {timer, delay}

// panelFailed handles a failed load of the panel name into box, for view
// (what the panel shows: the tenant, and its filter if any); empty is the
// panel's "nothing to show" line, if any.
function panelFailed(name, box, view, empty, e, load) {
  const prev = retries.get(name);
  if (prev) clearTimeout(prev.timer);
  const shown = box.dataset.view === view;
  let why;
  if (e.status === 401 && state.session && state.session.keys_required) {
    retries.delete(name);
    why = ': log in again.';
  } else {
    const delay = e.retryAfter > 0 ? e.retryAfter * 1000 : Math.min(REFRESH_MS, prev ? prev.delay * 2 : 1000);
    retries.set(name, { delay, timer: setTimeout(load, delay) });
    why = ' (' + e.message + '): trying again in ' + Math.ceil(delay / 1000) + ' s.';
  }
  if (shown) {
    box.classList.add('not-refreshed');
    box.title = 'Could not refresh the ' + name + why;
    return;
  }
  const li = el('li', 'empty error load-failed', 'Could not load the ' + name + why);
  li.dataset.failed = String(e.status || 'network');
  box.replaceChildren(li);
  if (empty) empty.hidden = true;
}

// panelLoaded ends the retries of a panel that loaded view into box.
function panelLoaded(name, box, view) {
  const prev = retries.get(name);
  if (prev) clearTimeout(prev.timer);
  retries.delete(name);
  box.dataset.view = view;
  box.classList.remove('not-refreshed');
  box.removeAttribute('title');
}

// --- wiring

function setRange(btn) {
  document.querySelectorAll('.ranges button').forEach((b) => b.classList.toggle('on', b === btn));
  if (btn.dataset.range === 'custom') {
    $('custom').hidden = false;
    const { from, to } = rangeBounds();
    $('from').value = localInput(from);
    $('to').value = localInput(to);
    return;
  }
  $('custom').hidden = true;
  state.range = Number(btn.dataset.range);
  writeHash();
  refreshChart();
}

function localInput(d) {
  const z = new Date(d.getTime() - d.getTimezoneOffset() * 60000);
  return z.toISOString().slice(0, 16);
}

function applyCustom() {
  state.from = new Date($('from').value);
  state.to = new Date($('to').value);
  state.range = 0;
  refreshChart();
}

async function start() {
  state.session = await (await fetch('/auth/session', { credentials: 'same-origin' })).json();
  const s = state.session;
  if (s.keys_required && !s.authenticated) { showLogin(); return; }
  $('who').textContent = !s.keys_required ? 'open (no keys)' : s.admin ? 'admin key ' + s.key_id : 'tenant ' + s.tenant;
  $('logout').hidden = !s.keys_required;
  readHash();
  document.querySelectorAll('.ranges button').forEach((b) => b.classList.toggle('on', Number(b.dataset.range) === state.range));
  await loadTenants();
  if (state.tenant) onTenant(); else connectStream();
  state.timers.forEach(clearInterval);
  state.timers = [
    setInterval(() => { if ($('auto').checked) { refreshChart(); loadFeatures(); } }, REFRESH_MS),
    setInterval(() => { loadTenants(); loadSources(); }, 2 * REFRESH_MS),
    setInterval(() => { loadRules(); loadSilences(); }, 12 * REFRESH_MS),
    // Half a period after the chart's refresh, so that the two do not
    // take the tenant's query slots at once.
    setTimeout(() => state.timers.push(setInterval(loadFlapping, REFRESH_MS)), REFRESH_MS / 2),
  ];
}

$('login-form').addEventListener('submit', login);
$('logout').addEventListener('click', logout);
$('tenant').addEventListener('change', (e) => { state.tenant = e.target.value; state.host = ''; state.metric = ''; onTenant(); });
$('metric').addEventListener('change', (e) => { state.metric = e.target.value; writeHash(); refreshChart(); });
$('f-severity').addEventListener('change', () => { state.alerts.clear(); $('feed').replaceChildren(); connectStream(); });
$('f-state').addEventListener('change', () => { state.alerts.clear(); $('feed').replaceChildren(); connectStream(); });
// Shadow episodes stay in the feed, hidden or shown: the stream carries both.
$('f-shadow').addEventListener('change', () => $('feed').classList.toggle('hide-shadow', !$('f-shadow').checked));
document.querySelectorAll('.ranges button').forEach((b) => b.addEventListener('click', () => setRange(b)));
$('apply').addEventListener('click', applyCustom);
window.addEventListener('resize', () => { if (state.plot) state.plot.setSize({ width: Math.max(280, $('chart').clientWidth), height: 300 }); });
start();
