// runs.js: the runs list: filters, paging with continue tokens, live refresh.
import { api, nsAPI } from './api.js';
import { badge, clear, h, timeCell } from './dom.js';
import { pad, runDuration, RUN_PHASES } from './format.js';
import { flash, showError } from './notice.js';
import { route } from './routes.js';
import { REFRESH_MS, state } from './state.js';

const RUN_FILTERS = ['workflow', 'phase', 'endpoint', 'since', 'until'];

// toLocalInput turns an RFC 3339 time into a datetime-local value in the browser's zone.
function toLocalInput(iso) {
  const d = new Date(iso);
  if (!iso || isNaN(d)) return '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

async function suggestions(ns) {
  if (state.names[ns]) return state.names[ns];
  const out = { workflows: [], endpoints: [] };
  state.names[ns] = out;
  try { out.workflows = ((await api(nsAPI(ns, 'workflows'))).items || []).map((w) => w.name); } catch { /* suggestions only */ }
  try { out.endpoints = ((await api(nsAPI(ns, 'webhookendpoints'))).items || []).map((e) => e.name); } catch { /* suggestions only */ }
  return out;
}

export function renderRuns(page, main, ns, query) {
  const filters = {};
  for (const k of RUN_FILTERS) if (query.get(k)) filters[k] = query.get(k);
  const key = `${ns}?${new URLSearchParams(filters)}`;
  if (state.runPages.key !== key) state.runPages = { key, stack: [''] };
  const pages = state.runPages;

  const wfList = h('datalist', { id: 'workflow-names' });
  const epList = h('datalist', { id: 'endpoint-names' });
  suggestions(ns).then((sug) => {
    for (const n of sug.workflows) wfList.append(h('option', { value: n }));
    for (const n of sug.endpoints) epList.append(h('option', { value: n }));
  });

  const phaseSel = h('select', { id: 'filter-phase', name: 'phase' },
    h('option', { value: '' }, 'any'), RUN_PHASES.map((p) => h('option', { value: p }, p)));
  phaseSel.value = filters.phase || '';
  const form = h('form', { id: 'run-filters', class: 'toolbar', onsubmit: applyFilters },
    h('label', {}, 'Workflow', h('input', { id: 'filter-workflow', name: 'workflow', list: 'workflow-names', value: filters.workflow || '', size: 18 })),
    h('label', {}, 'Phase', phaseSel),
    h('label', {}, 'Endpoint', h('input', { id: 'filter-endpoint', name: 'endpoint', list: 'endpoint-names', value: filters.endpoint || '', size: 16 })),
    h('label', {}, 'Since', h('input', { id: 'filter-since', name: 'since', type: 'datetime-local', value: toLocalInput(filters.since) })),
    h('label', {}, 'Until', h('input', { id: 'filter-until', name: 'until', type: 'datetime-local', value: toLocalInput(filters.until) })),
    h('button', { type: 'submit', id: 'filter-apply' }, 'Filter'),
    h('button', { type: 'button', class: 'secondary', id: 'filter-clear', onclick: () => { location.hash = route(ns, 'runs'); } }, 'Clear'),
    wfList, epList);

  function applyFilters(ev) {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const k of RUN_FILTERS) {
      const v = form.elements[k].value.trim();
      if (!v) continue;
      q.set(k, k === 'since' || k === 'until' ? new Date(v).toISOString() : v);
    }
    const qs = q.toString();
    location.hash = route(ns, 'runs') + (qs ? `?${qs}` : '');
  }

  const live = h('input', { type: 'checkbox', id: 'live' });
  live.checked = localStorage.getItem('aias.live') !== 'off';
  live.addEventListener('change', () => localStorage.setItem('aias.live', live.checked ? 'on' : 'off'));

  const tbody = h('tbody');
  const table = h('table', { id: 'runs' },
    h('thead', {}, h('tr', {}, ['Name', 'Workflow', 'Phase', 'Trigger', 'Created', 'Duration'].map((c) => h('th', {}, c)))),
    tbody);
  const newer = h('button', { type: 'button', id: 'page-newer', class: 'secondary', onclick: () => { pages.stack.pop(); load(false, true); } }, '← Newer');
  const next = h('button', { type: 'button', id: 'page-next', class: 'secondary' }, 'Next →');
  const pageNo = h('span', { class: 'muted', id: 'page-number' });
  let nextToken = '';
  next.addEventListener('click', () => { if (nextToken) { pages.stack.push(nextToken); load(false, true); } });

  main.append(
    h('div', { class: 'page-title' }, h('h1', {}, 'Runs'), h('span', { class: 'muted' }, ns), h('span', { class: 'spacer' }),
      h('label', { class: 'inline', for: 'live' }, live, 'Live refresh')),
    form, table,
    h('div', { class: 'pager' }, newer, pageNo, next));

  let inflight = false;
  // load fetches the current page; quiet (live refresh) keeps errors out of the way, and
  // turned (Next/Newer) brings the top of the new page into view.
  async function load(quiet, turned) {
    if (inflight) return;
    inflight = true;
    const token = pages.stack[pages.stack.length - 1];
    const q = new URLSearchParams(filters);
    if (token) q.set('continue', token);
    try {
      const list = await api(`${nsAPI(ns, 'runs')}?${q}`, { signal: page.signal() });
      if (page.closed) return;
      nextToken = list.continue || '';
      fillRuns(tbody, ns, list.items || []);
      newer.disabled = pages.stack.length <= 1;
      next.disabled = !nextToken;
      pageNo.textContent = `Page ${pages.stack.length}`;
      table.dataset.loaded = 'true';
      if (turned) table.scrollIntoView({ block: 'nearest' });
    } catch (e) {
      if (page.closed || e.name === 'AbortError') return;
      if (e.status === 400 && !quiet) flash(`Filter refused: ${e.message}`, true);
      else if (!quiet) showError(main, e);
      // A continue token can expire under live refresh: start again from the newest page.
      if (e.status === 400 && token) { pages.stack = ['']; }
    } finally {
      inflight = false;
    }
  }
  load();
  page.every(REFRESH_MS, () => { if (live.checked && !document.hidden) load(true); });
}

function fillRuns(tbody, ns, items) {
  const rows = items.map((r) => {
    const link = h('a', { href: route(ns, 'runs', r.name) }, r.name);
    const tr = h('tr', { class: 'clickable', dataset: { run: r.name, phase: r.phase } },
      h('td', {}, link),
      h('td', {}, r.workflow),
      h('td', {}, badge(r.phase)),
      h('td', {}, r.trigger, r.endpoint ? h('span', { class: 'muted' }, ` · ${r.endpoint}`) : null),
      timeCell(r.createdAt),
      h('td', { class: 'num' }, runDuration(r)));
    tr.addEventListener('click', (ev) => { if (!ev.target.closest('a')) location.hash = link.getAttribute('href'); });
    return tr;
  });
  clear(tbody);
  if (!rows.length) tbody.append(h('tr', {}, h('td', { class: 'empty', colspan: 6 }, 'No runs match.')));
  else tbody.append(...rows);
}
