// usage.js: the Usage page: the tenant's plan and its meters against the limits.
import { api, nsAPI } from './api.js';
import { h } from './dom.js';
import { showError } from './notice.js';

const USAGE_LABELS = {
  workflows: 'Workflows',
  webhookEndpoints: 'Webhook endpoints',
  runsPerMonth: 'Runs this billing period',
  concurrentRuns: 'Concurrent runs',
};

export async function renderUsage(page, main, ns) {
  main.append(h('div', { class: 'page-title' }, h('h1', {}, 'Usage'), h('span', { class: 'muted' }, ns)));
  let u;
  try { u = await api(nsAPI(ns, 'usage'), { signal: page.signal() }); } catch (e) { if (!page.closed) showError(main, e); return; }
  if (page.closed) return;
  main.append(h('p', {}, 'Tenant ', h('strong', { id: 'usage-tenant' }, u.tenant || ns), ', plan ', h('strong', { id: 'usage-plan' }, u.plan || 'none')));
  const box = h('div', { class: 'usage', id: 'usage' });
  for (const it of u.items || []) {
    const unlimited = it.limit === undefined || it.limit === null;
    const meter = h('div', { class: `meter${unlimited ? ' unlimited' : ''}`, role: 'meter', 'aria-valuenow': it.used, 'aria-valuemin': 0, 'aria-valuemax': unlimited ? null : it.limit });
    const fill = h('div', { class: 'fill' });
    if (!unlimited) {
      const pct = it.limit > 0 ? Math.min(100, (it.used / it.limit) * 100) : 100;
      fill.style.width = `${pct}%`;
      if (pct >= 100) fill.classList.add('full');
      else if (pct >= 80) fill.classList.add('warn');
    }
    meter.append(fill);
    box.append(h('div', { class: 'usage-item', dataset: { usage: it.name } },
      h('div', { class: 'label' }, h('span', {}, USAGE_LABELS[it.name] || it.name),
        h('span', { class: 'value' }, unlimited ? `${it.used} · unlimited` : `${it.used} / ${it.limit}`)),
      meter));
  }
  if (!(u.items || []).length) box.append(h('p', { class: 'muted' }, 'No limits reported.'));
  main.append(box);
}
