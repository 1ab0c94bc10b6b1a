// workflows.js: the Workflows page: each workflow's steps, status and last run, and a Run
// button that opens the workflow's start form (startrun.js).
import { api, nsAPI } from './api.js';
import { badge, h } from './dom.js';
import { showError } from './notice.js';
import { enc, route } from './routes.js';
import { startRunForm } from './startrun.js';

export async function renderWorkflows(page, main, ns) {
  main.append(h('div', { class: 'page-title' }, h('h1', {}, 'Workflows'), h('span', { class: 'muted' }, ns)));
  let list;
  try { list = await api(nsAPI(ns, 'workflows'), { signal: page.signal() }); } catch (e) { if (!page.closed) showError(main, e); return; }
  if (page.closed) return;
  const rows = (list.items || []).map((w) => h('tr', { dataset: { workflow: w.name } },
    h('td', {}, h('strong', {}, w.name)),
    h('td', {}, (w.steps || []).map((st, i) => [i ? h('br') : null,
      h('code', { title: st.image }, st.name),
      st.dependsOn && st.dependsOn.length ? h('span', { class: 'muted' }, ` ← ${st.dependsOn.join(', ')}`) : null])),
    h('td', {}, w.concurrency || ''),
    h('td', {}, badge(w.ready ? 'Ready' : 'Not ready', `ok-${!!w.ready}`)),
    h('td', {}, w.lastRun ? [h('a', { href: route(ns, 'runs', w.lastRun) }, w.lastRun), ' ', badge(w.lastPhase)] : h('span', { class: 'muted' }, 'none')),
    h('td', {}, w.message || ''),
    h('td', {}, h('a', { href: `${route(ns, 'runs')}?workflow=${enc(w.name)}` }, 'runs'), ' ',
      h('button', { type: 'button', class: 'secondary start', title: 'Start a run with parameters', onclick: () => openForm(w) }, 'Run'))));
  const slot = h('div', { id: 'start-run-slot' });
  const openForm = (w) => { slot.replaceChildren(startRunForm(ns, w, () => slot.replaceChildren())); };
  main.append(slot);
  main.append(h('table', { id: 'workflows' },
    h('thead', {}, h('tr', {}, ['Name', 'Steps', 'Concurrency', 'Status', 'Last run', 'Message', ''].map((c) => h('th', {}, c)))),
    h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { class: 'empty', colspan: 7 }, 'No workflows in this namespace.')))));
}
