// EventOps dashboard: what people do with an alert episode, in its place
// in the live feed. Acknowledge, assign and note an episode
// (POST /alerts/{id}/ack, /assign, /notes); its trail comes from
// GET /alerts/{id}/activity and, live, from the stream's activity events.
// app.js calls activityView when it draws an alert and onActivity for each
// activity event. Texts from the API are put in the page as text.
'use strict';

function activityPath(item, what) {
  const a = item.alert;
  return '/alerts/' + encodeURIComponent(a.episode_id) + '/' + what + '?tenant=' + encodeURIComponent(a.tenant);
}

// loadActivity reads an episode's trail and redraws its alert.
async function loadActivity(item) {
  item.actLoading = true;
  for (let attempt = 1; ; attempt++) {
    try {
      item.act = await api(activityPath(item, 'activity'));
      break;
    } catch (e) {
      // 429: the tenant's reads are busy (the dashboard loads several
      // panels at once); try again shortly.
      if (e.status === 429 && attempt < 5) { await new Promise((r) => setTimeout(r, 300 * attempt)); continue; }
      item.act = { error: e.message, activity: [] };
      break;
    }
  }
  item.actLoading = false;
  if (item.alert) renderAlert(item);
}

// onActivity takes a stream's activity event: the trail of the episode, if
// it is in the feed, gains the entry.
function onActivity(act) {
  const item = state.alerts.get(act.episode_id);
  if (!item || !item.act || item.act.error) return;
  if (item.act.activity.some((x) => x.id === act.id)) return;
  item.act.activity.push(act);
  if (act.kind === 'ack') item.act.acknowledged = act;
  if (act.kind === 'assign') item.act.assignee = act.assignee;
  renderAlert(item);
}

// ackHolds reports whether the episode's ack is in force now.
function ackHolds(item) {
  const ack = item.act && item.act.acknowledged;
  if (!ack) return false;
  const st = item.alert.state;
  if (st === 'resolved' || st === 'inactive') return false;
  return !ack.expires_at || new Date(ack.expires_at).getTime() > Date.now();
}

async function act(item, what, body, status) {
  status.textContent = '';
  try {
    await api(activityPath(item, what), {
      method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body: JSON.stringify(body),
    });
    if (what !== 'ack') item.draft = '';
    await loadActivity(item);
  } catch (e) {
    status.textContent = e.message;
  }
}

// activityView is the part of an alert's entry that shows and takes
// acknowledgements, assignments and notes.
function activityView(item) {
  const box = el('div', 'activity');
  box.addEventListener('click', (e) => e.stopPropagation());
  if (!item.act) {
    if (!item.actLoading) loadActivity(item);
    return box;
  }
  const a = item.alert;
  const acked = ackHolds(item);
  item.el.dataset.activity = item.actLoading ? 'loading' : 'loaded';
  item.el.dataset.acked = acked ? 'true' : 'false';
  const line = el('div', 'act-state');
  if (acked) {
    const ack = item.act.acknowledged;
    line.append(el('span', 'badge acked', 'acknowledged'),
      el('span', 'act-by', 'by ' + ack.actor + (ack.expires_at ? ' until ' + new Date(ack.expires_at).toLocaleTimeString() : '')));
  }
  if (item.act.assignee) line.append(el('span', 'act-assignee', 'assigned to ' + item.act.assignee));
  box.append(line);
  const notes = el('ul', 'act-notes');
  for (const x of item.act.activity.filter((x) => x.kind === 'note').slice(-3)) {
    notes.append(el('li', '', x.actor + ': ' + x.note));
  }
  if (notes.children.length) box.append(notes);

  const status = el('span', 'act-error error');
  const controls = el('div', 'act-controls');
  if (!acked && (a.state === 'firing' || a.state === 'pending')) {
    const ack = el('button', 'act-ack', 'acknowledge');
    ack.type = 'button';
    ack.addEventListener('click', () => act(item, 'ack', {}, status));
    controls.append(ack);
  }
  const text = el('input', 'act-text');
  text.placeholder = 'name or note';
  text.setAttribute('aria-label', 'assignee or note');
  text.maxLength = 4096;
  // The entry is drawn again whenever the episode changes: what is being
  // typed stays.
  text.value = item.draft || '';
  text.addEventListener('input', () => { item.draft = text.value; });
  if (item.textInput && document.activeElement === item.textInput) queueMicrotask(() => text.focus());
  item.textInput = text;
  const assign = el('button', 'act-assign', 'assign');
  assign.type = 'button';
  assign.addEventListener('click', () => { if (text.value.trim()) act(item, 'assign', { assignee: text.value.trim() }, status); });
  const note = el('button', 'act-note', 'note');
  note.type = 'button';
  note.addEventListener('click', () => { if (text.value.trim()) act(item, 'notes', { text: text.value }, status); });
  controls.append(text, assign, note, status);
  box.append(controls);
  return box;
}
