// EventOps dashboard: the notification history panel. Every decision and
// delivery attempt of the notify stage for the tenant (GET /notifications):
// sent, failed, silenced, inhibited, muted, held for flapping, refused, and
// why. Loaded after app.js, whose helpers (api, el, state, $) it uses; its
// text goes in the page as text, never as HTML.
'use strict';

const NOTIFICATIONS_MAX = 50;

// notificationFilter is the episode the panel is narrowed to ('' for all).
let notificationFilter = '';

async function loadNotifications() {
  const list = $('notifications');
  if (!list) return;
  let items = [];
  if (state.tenant) {
    const q = new URLSearchParams({ tenant: state.tenant, limit: String(NOTIFICATIONS_MAX) });
    if (notificationFilter) q.set('episode', notificationFilter);
    try {
      items = (await api('/notifications?' + q.toString())).notifications || [];
    } catch (e) {
      panelFailed('notifications', list, state.tenant + '/' + notificationFilter, $('notifications-empty'), e, loadNotifications);
      return;
    }
  }
  panelLoaded('notifications', list, state.tenant + '/' + notificationFilter);
  list.replaceChildren(...items.map((n) => {
    const li = el('li', 'notification outcome-' + n.outcome);
    li.dataset.outcome = n.outcome;
    li.dataset.episode = n.episode_id;
    const ep = el('a', 'episode', n.episode_id);
    ep.href = '#';
    ep.title = 'only this episode';
    ep.addEventListener('click', (e) => { e.preventDefault(); notificationFilter = n.episode_id; loadNotifications(); });
    li.append(el('span', 'badge outcome', n.outcome === 'flapping' ? 'flapping' : n.outcome), ' ',
      el('strong', '', n.alertname), ' ', el('span', 'state', n.state), ' → ', el('span', 'receiver', n.receiver + ' ' + n.integration),
      el('div', 'reason', n.reason),
      el('div', 'src', new Date(n.at).toLocaleString() + ' · episode '));
    li.lastChild.append(ep);
    return li;
  }));
  $('notifications-empty').hidden = items.length > 0;
  $('notifications-filter').hidden = !notificationFilter;
  $('notifications-filter').textContent = notificationFilter ? 'episode ' + notificationFilter + ' ✕' : '';
}

$('notifications-filter').addEventListener('click', () => { notificationFilter = ''; loadNotifications(); });
$('tenant').addEventListener('change', () => { notificationFilter = ''; loadNotifications(); });
setInterval(loadNotifications, 2 * REFRESH_MS);
loadNotifications();
