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

// loadActivity reads an episode's trail and shows it.
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
  if (item.actBox) refreshActivity(item);
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
  refreshActivity(item);
}

// ackHolds reports whether the episode's ack is in force now.
function ackHolds(item) {
  const ack = item.act && item.act.acknowledged;
  if (!ack) return false;
  const st = item.alert.state;
  if (st === 'resolved' || st === 'inactive') return false;
  return !ack.expires_at || new Date(ack.expires_at).getTime() > Date.now();
}

async function act(item, what, body) {
  item.actStatus.textContent = '';
  try {
    await api(activityPath(item, what), {
      method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body: JSON.stringify(body),
    });
    if (what !== 'ack') item.actText.value = '';
    await loadActivity(item);
  } catch (e) {
    item.actStatus.textContent = e.message;
  }
}

// activityView is the part of an alert's entry that shows and takes
// acknowledgements, assignments and notes. It is made once per entry and
// kept: news of the episode's activity changes what it shows in place, so
// that what someone is typing in it stays.
function activityView(item) {
  if (!item.actBox) buildActivity(item);
  refreshActivity(item);
  return item.actBox;
}

function buildActivity(item) {
  const box = el('div', 'activity');
  box.addEventListener('click', (e) => e.stopPropagation());
  item.actLine = el('div', 'act-state');
  item.actNotes = el('ul', 'act-notes');
  item.actStatus = el('span', 'act-error error');
  item.actAck = el('button', 'act-ack', 'acknowledge');
  item.actAck.type = 'button';
  item.actAck.addEventListener('click', () => act(item, 'ack', {}));
  const text = el('input', 'act-text');
  text.placeholder = 'name or note';
  text.setAttribute('aria-label', 'assignee or note');
  text.maxLength = 4096;
  item.actText = text;
  const assign = el('button', 'act-assign', 'assign');
  assign.type = 'button';
  assign.addEventListener('click', () => { if (text.value.trim()) act(item, 'assign', { assignee: text.value.trim() }); });
  const note = el('button', 'act-note', 'note');
  note.type = 'button';
  note.addEventListener('click', () => { if (text.value.trim()) act(item, 'notes', { text: text.value }); });
  item.actControls = el('div', 'act-controls');
  item.actControls.append(text, assign, note, item.actStatus);
  box.append(item.actLine, item.actNotes, item.actControls);
  item.actBox = box;
}

// refreshActivity shows the episode's activity as last read.
function refreshActivity(item) {
  if (!item.act) {
    if (!item.actLoading) loadActivity(item);
    item.el.dataset.activity = 'loading';
    return;
  }
  const a = item.alert;
  const acked = ackHolds(item);
  item.el.dataset.activity = item.actLoading ? 'loading' : 'loaded';
  item.el.dataset.acked = acked ? 'true' : 'false';
  const line = [];
  if (acked) {
    const ack = item.act.acknowledged;
    line.push(el('span', 'badge acked', 'acknowledged'),
      el('span', 'act-by', 'by ' + ack.actor + (ack.expires_at ? ' until ' + new Date(ack.expires_at).toLocaleTimeString() : '')));
  }
  if (item.act.assignee) line.push(el('span', 'act-assignee', 'assigned to ' + item.act.assignee));
  item.actLine.replaceChildren(...line);
  item.actNotes.replaceChildren(...item.act.activity.filter((x) => x.kind === 'note').slice(-3)
    .map((x) => el('li', '', x.actor + ': ' + x.note)));
  if (!acked && (a.state === 'firing' || a.state === 'pending')) {
    if (item.actAck.parentNode !== item.actControls) item.actControls.prepend(item.actAck);
  } else {
    item.actAck.remove();
  }
}
