// main.js: the console's entry point: start (who am I, which namespaces), the hash router
// and the header (namespace select, section links).
//
// Rules every module of the console keeps:
//   - No framework, no build step, nothing loaded from outside the server (offline clusters,
//     and the Content-Security-Policy allows 'self' only). Modules import each other by
//     relative URL without a query: webhookserver/console/ui.go has them revalidated (ETag).
//   - Every piece of server data reaches the DOM as text (textContent / text nodes) or as an
//     attribute value; never through innerHTML.
//   - A page renders at most one page of runs; live refresh re-fetches only that page.
//   - Every POST carries X-CSRF-Token from the aias_csrf cookie (the session cookie is HttpOnly).
import { API, api, onUnauthorized } from './api.js';
import { $, $$, clear, h } from './dom.js';
import { renderDeliveries } from './deliveries.js';
import { renderEndpoints } from './endpoints.js';
import { sessionEnded, showLogin, wireLogin } from './login.js';
import { flash, showError } from './notice.js';
import { parseHash, route } from './routes.js';
import { renderRun } from './run.js';
import { renderRuns } from './runs.js';
import { newPage, state } from './state.js';
import { renderUsage } from './usage.js';
import { renderWorkflows } from './workflows.js';

async function start() {
  try {
    state.user = await api(`${API}/whoami`, { quiet401: true });
  } catch (e) {
    if (e.status === 401) { showLogin(); return; }
    showError($('#main'), e);
    return;
  }
  $('#login').hidden = true;
  const who = $('#whoami');
  who.textContent = state.user.user;
  who.title = (state.user.groups || []).join(', ');
  try {
    state.namespaces = (await api(`${API}/namespaces`)).items || [];
  } catch (e) {
    if (e.status === 401) return;
    state.namespaces = [];
    flash(`Cannot list namespaces: ${e.message}`, true);
  }
  $('#top').hidden = false;
  render();
}

function fillNamespaces() {
  const sel = $('#ns-select');
  clear(sel);
  const names = state.namespaces.map((n) => n.name);
  if (state.ns && !names.includes(state.ns)) names.unshift(state.ns);
  for (const n of names) sel.append(h('option', { value: n }, n));
  sel.value = state.ns;
}

function markNav(section) {
  for (const a of $$('#nav a')) {
    a.href = state.ns ? route(state.ns, a.dataset.nav) : '#/';
    a.classList.toggle('active', a.dataset.nav === section);
  }
}

function render() {
  if (!state.user) return;
  const { parts, query } = parseHash();
  const main = $('#main');
  if (parts[0] !== 'ns' || !parts[1]) {
    const remembered = localStorage.getItem('aias.ns');
    const names = state.namespaces.map((n) => n.name);
    const ns = names.includes(remembered) ? remembered : names[0];
    if (!ns) {
      newPage();
      fillNamespaces();
      markNav('');
      clear(main).append(h('div', { class: 'error-box', id: 'no-namespaces' },
        'You may not list runs in any tenant namespace. Ask your platform team for access.'));
      return;
    }
    location.replace(route(ns, 'runs'));
    return;
  }
  state.ns = parts[1];
  localStorage.setItem('aias.ns', state.ns);
  fillNamespaces();
  const section = parts[2] || 'runs';
  markNav(section);
  const page = newPage();
  clear(main);
  if (section === 'runs' && parts[3]) renderRun(page, main, state.ns, parts[3]);
  else if (section === 'runs') renderRuns(page, main, state.ns, query);
  else if (section === 'workflows') renderWorkflows(page, main, state.ns);
  else if (section === 'endpoints' && parts[3]) renderDeliveries(page, main, state.ns, parts[3]);
  else if (section === 'endpoints') renderEndpoints(page, main, state.ns);
  else if (section === 'usage') renderUsage(page, main, state.ns);
  else main.append(h('div', { class: 'error-box' }, 'No such page.'));
}

function boot() {
  onUnauthorized(sessionEnded);
  wireLogin(start);
  $('#ns-select').addEventListener('change', (ev) => {
    const { parts } = parseHash();
    const section = parts[2] && parts[2] !== 'runs' ? parts[2] : 'runs';
    location.hash = route(ev.target.value, section);
  });
  window.addEventListener('hashchange', render);
  start();
}

// Module scripts run once the document is parsed; the check keeps boot correct either way.
if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
else boot();
