// deliveries.js: one webhook endpoint's delivery log, newest first: every delivery, what
// became of it (created, duplicate, filtered, refused and why), the status answered, the
// body's size and digest, and the Run it started. Deliveries that never verified are
// counted per minute, without an id. "Load more" follows the API's keyset cursor.
import { api, nsAPI, randomKey } from './api.js';
import { h, timeCell } from './dom.js';
import { fmtBytes, shortDigest } from './format.js';
import { showError } from './notice.js';
import { route } from './routes.js';

export async function renderDeliveries(page, main, ns, endpoint) {
  main.append(h('div', { class: 'page-title' }, h('h1', {}, `Deliveries to ${endpoint}`),
    h('a', { href: route(ns, 'endpoints') }, 'all endpoints')));
  const body = h('tbody', {});
  const more = h('button', { type: 'button', class: 'secondary', id: 'deliveries-more', hidden: true }, 'Load more');
  const table = h('table', { id: 'deliveries' },
    h('thead', {}, h('tr', {}, ['Received', 'Outcome', 'Status', 'Delivery id', 'Run', 'Size', 'Digest', 'Count', 'Reason', ''].map((c) => h('th', {}, c)))),
    body);
  main.append(table, more);
  let cont = '';
  const load = async () => {
    more.disabled = true;
    let list;
    const q = cont ? `?continue=${encodeURIComponent(cont)}` : '';
    try { list = await api(nsAPI(ns, 'webhookendpoints', endpoint, 'deliveries') + q, { signal: page.signal() }); } catch (e) { if (!page.closed) showError(main, e); return; }
    if (page.closed) return;
    for (const d of list.items || []) {
      body.append(h('tr', { dataset: { outcome: d.outcome, delivery: d.deliveryID || '' } },
        timeCell(d.receivedAt),
        h('td', {}, h('span', { class: `badge outcome-${d.outcome}` }, d.outcome)),
        h('td', {}, String(d.status)),
        h('td', {}, d.verified ? h('code', {}, d.deliveryID) : h('span', { class: 'muted' }, 'unverified')),
        h('td', {}, d.run ? h('a', { href: route(ns, 'runs', d.run) }, d.run) : ''),
        h('td', {}, fmtBytes(d.bodySize)),
        h('td', {}, d.digest ? h('code', { title: d.digest }, shortDigest(d.digest)) : ''),
        h('td', {}, String(d.count)),
        h('td', {}, d.reason || ''),
        h('td', {}, d.redeliverable ? redeliverButton(ns, endpoint, d) : '')));
    }
    if (!body.children.length) body.append(h('tr', {}, h('td', { class: 'empty', colspan: 10 }, 'No deliveries logged for this endpoint.')));
    cont = list.continue || '';
    more.hidden = !cont;
    more.disabled = false;
  };
  more.addEventListener('click', load);
  await load();
}

// redeliverButton sends the stored delivery through the endpoint again (its current
// filter and params) and moves to the Run it starts; one Idempotency-Key per button, so
// a double click starts one Run.
function redeliverButton(ns, endpoint, d) {
  const key = randomKey();
  const b = h('button', { type: 'button', class: 'small secondary redeliver', title: 'Send this delivery through the endpoint again' }, 'Redeliver');
  b.addEventListener('click', async () => {
    b.disabled = true;
    try {
      const ref = await api(nsAPI(ns, 'webhookendpoints', endpoint, 'deliveries', d.id, 'redeliver'), { method: 'POST', headers: { 'Idempotency-Key': key } });
      if (ref.run) location.hash = route(ns, 'runs', ref.run);
      else { b.textContent = 'Filtered'; }
    } catch (e) {
      b.textContent = e.message;
      b.disabled = false;
    }
  });
  return b;
}
