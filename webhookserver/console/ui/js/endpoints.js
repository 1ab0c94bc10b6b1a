// endpoints.js: the Webhook endpoints page: URLs to copy, status, links to their runs and
// delivery logs (deliveries.js).
import { api, nsAPI } from './api.js';
import { badge, h } from './dom.js';
import { showError } from './notice.js';
import { enc, route } from './routes.js';

async function copyText(text, input, button) {
  let ok = false;
  if (navigator.clipboard && window.isSecureContext) {
    try { await navigator.clipboard.writeText(text); ok = true; } catch { /* fall back below */ }
  }
  if (!ok) {
    // Plain-http consoles have no async clipboard: select the text so the user (or
    // execCommand, where still supported) can copy it.
    input.focus();
    input.select();
    try { ok = document.execCommand('copy'); } catch { ok = false; }
  }
  button.textContent = ok ? 'Copied' : 'Press Ctrl+C';
  button.dataset.copied = ok ? 'true' : 'selected';
  setTimeout(() => { button.textContent = 'Copy'; }, 2000);
}

export async function renderEndpoints(page, main, ns) {
  main.append(h('div', { class: 'page-title' }, h('h1', {}, 'Webhook endpoints'), h('span', { class: 'muted' }, ns)));
  let list;
  try { list = await api(nsAPI(ns, 'webhookendpoints'), { signal: page.signal() }); } catch (e) { if (!page.closed) showError(main, e); return; }
  if (page.closed) return;
  const rows = (list.items || []).map((ep) => {
    const input = h('input', { class: 'url', readonly: true, value: ep.url, 'aria-label': `URL of ${ep.name}` });
    const button = h('button', { type: 'button', class: 'small secondary copy' }, 'Copy');
    button.addEventListener('click', () => copyText(ep.url, input, button));
    input.addEventListener('focus', () => input.select());
    const status = ep.suspended ? badge('Suspended', 'ok-false') : badge(ep.ready ? 'Ready' : 'Not ready', `ok-${!!ep.ready}`);
    return h('tr', { dataset: { endpoint: ep.name } },
      h('td', {}, h('strong', {}, ep.name)),
      h('td', {}, h('a', { href: `${route(ns, 'runs')}?workflow=${enc(ep.workflow)}` }, ep.workflow)),
      h('td', {}, h('div', { class: 'copy-row' }, input, button)),
      h('td', {}, ep.scheme),
      h('td', {}, status),
      h('td', {}, ep.message || ''),
      h('td', {}, h('a', { href: `${route(ns, 'runs')}?endpoint=${enc(ep.name)}` }, 'runs'), ' ',
        h('a', { class: 'deliveries', href: route(ns, 'endpoints', ep.name) }, 'deliveries')));
  });
  main.append(h('table', { id: 'endpoints' },
    h('thead', {}, h('tr', {}, ['Name', 'Workflow', 'URL', 'Scheme', 'Status', 'Message', ''].map((c) => h('th', {}, c)))),
    h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { class: 'empty', colspan: 7 }, 'No webhook endpoints in this namespace.')))));
}
