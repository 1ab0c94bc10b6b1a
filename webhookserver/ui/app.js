// AIAS console: a small single-page app over the user API (webhookserver/userapi_types.go).
//
// Rules this file keeps:
//   - No framework, no build step, nothing loaded from outside the server (offline clusters,
//     and the Content-Security-Policy allows 'self' only).
//   - Every piece of server data reaches the DOM as text (textContent / text nodes) or as an
//     attribute value; never through innerHTML.
//   - A page renders at most one page of runs; live refresh re-fetches only that page.
//   - Every POST carries X-CSRF-Token from the aias_csrf cookie (the session cookie is HttpOnly).
'use strict';

(() => {
  const API = '/api/v1';
  const REFRESH_MS = 3000;
  const RUN_PHASES = ['Pending', 'Queued', 'Running', 'Succeeded', 'Failed', 'Canceled', 'Rejected'];
  const FINISHED = new Set(['Succeeded', 'Failed', 'Canceled', 'Rejected']);
  const MAX_LOG_LINES = 20000;
  const SVG_NS = 'http://www.w3.org/2000/svg';

  // ---------- DOM helpers ----------

  // h builds an element. attrs: class, dataset (object), on<event> (function), anything else
  // becomes an attribute. Children: strings become text nodes; null/false are skipped.
  function h(tag, attrs, ...children) {
    return build(document.createElement(tag), attrs, children);
  }
  function s(tag, attrs, ...children) {
    return build(document.createElementNS(SVG_NS, tag), attrs, children);
  }
  function build(el, attrs, children) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'text') el.textContent = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    append(el, children);
    return el;
  }
  function append(el, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
  }
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

  // ---------- formatting ----------

  const pad = (n, w = 2) => String(n).padStart(w, '0');
  function fmtTime(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    if (isNaN(d)) return iso;
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
  function fmtClock(iso) {
    const d = new Date(iso);
    return isNaN(d) ? '' : `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  }
  function fmtDuration(sec) {
    if (sec === null || sec === undefined || isNaN(sec)) return '';
    if (sec === 0) return '<1s'; // Kubernetes timestamps have whole seconds
    if (sec < 1) return `${Math.round(sec * 1000)}ms`;
    if (sec < 60) return `${sec.toFixed(1)}s`;
    const m = Math.floor(sec / 60);
    if (m < 60) return `${m}m ${Math.floor(sec % 60)}s`;
    return `${Math.floor(m / 60)}h ${m % 60}m`;
  }
  function fmtBytes(n) {
    if (n === null || n === undefined) return '';
    const units = ['B', 'KiB', 'MiB', 'GiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return `${i ? n.toFixed(1) : n} ${units[i]}`;
  }
  const shortDigest = (d) => (d ? d.replace(/^sha256:/, '').slice(0, 12) : '');
  const secondsBetween = (a, b) => (new Date(b) - new Date(a)) / 1000;
  // runDuration is the finished duration, or the time so far for a started run.
  function runDuration(r) {
    if (r.durationSeconds !== undefined && r.durationSeconds !== null) return fmtDuration(r.durationSeconds);
    // Clamped: the browser's clock may run behind the cluster's.
    if (r.startedAt && !r.finishedAt && !FINISHED.has(r.phase)) return `${fmtDuration(Math.max(0, secondsBetween(r.startedAt, new Date())))}…`;
    if (r.startedAt && r.finishedAt) return fmtDuration(secondsBetween(r.startedAt, r.finishedAt));
    return '';
  }
  const isFinished = (r) => FINISHED.has(r.phase) || !!r.finishedAt;

  function badge(phase, cls) {
    return h('span', { class: `badge ${cls || 'phase-' + phase}`, dataset: { phase: phase || '' } }, phase || '—');
  }
  function timeCell(iso) {
    return h('td', { title: iso || '' }, fmtTime(iso));
  }

  // ---------- routes ----------

  const enc = encodeURIComponent;
  const route = (ns, ...parts) => `#/ns/${enc(ns)}${parts.map((p) => '/' + enc(p)).join('')}`;
  const nsAPI = (ns, ...parts) => `${API}/namespaces/${enc(ns)}${parts.map((p) => '/' + enc(p)).join('')}`;

  function parseHash() {
    const raw = location.hash.replace(/^#/, '');
    const qi = raw.indexOf('?');
    const path = qi < 0 ? raw : raw.slice(0, qi);
    const query = new URLSearchParams(qi < 0 ? '' : raw.slice(qi + 1));
    let parts;
    try { parts = path.split('/').filter(Boolean).map(decodeURIComponent); } catch { parts = []; }
    return { parts, query };
  }

  // ---------- API ----------

  class APIError extends Error {
    constructor(status, body) {
      super((body && body.error) || `HTTP ${status}`);
      this.status = status;
      this.reason = (body && body.reason) || '';
    }
  }

  // randomKey works in plain-http contexts too, where crypto.randomUUID is missing.
  function randomKey() {
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }

  function cookie(name) {
    for (const part of document.cookie.split(';')) {
      const i = part.indexOf('=');
      if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
    }
    return '';
  }

  async function api(path, opts = {}) {
    const init = { method: opts.method || 'GET', headers: { Accept: 'application/json' }, credentials: 'same-origin', signal: opts.signal };
    Object.assign(init.headers, opts.headers || {});
    if (init.method !== 'GET') init.headers['X-CSRF-Token'] = cookie('aias_csrf');
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new APIError(0, { error: `cannot reach the server: ${e.message}`, reason: 'Unavailable' });
    }
    let body = null;
    if (res.status !== 204) {
      const text = await res.text();
      if (text) { try { body = JSON.parse(text); } catch { body = { error: text.slice(0, 300) }; } }
    }
    if (!res.ok) {
      const err = new APIError(res.status, body);
      if (res.status === 401 && !opts.quiet401) sessionEnded();
      throw err;
    }
    return body;
  }

  // ---------- app state ----------

  const state = {
    user: null,
    namespaces: [],
    ns: '',
    // page is the token of the current view: timers and streams hang on it, and async work
    // checks it so that a late answer never renders into a view the user has left.
    page: null,
    runPages: { key: '', stack: [''] }, // continue tokens of the runs list, per filter set
    names: {}, // ns -> {workflows, endpoints} for the filter suggestions
  };

  function newPage() {
    if (state.page) state.page.close();
    const page = {
      timers: [], sources: [], controllers: [], closed: false,
      every(ms, fn) { this.timers.push(setInterval(fn, ms)); },
      source(es) { this.sources.push(es); return es; },
      signal() { const c = new AbortController(); this.controllers.push(c); return c.signal; },
      close() {
        this.closed = true;
        this.timers.forEach(clearInterval);
        this.sources.forEach((es) => es.close());
        this.controllers.forEach((c) => c.abort());
      },
    };
    state.page = page;
    return page;
  }

  let flashTimer = null;
  function flash(msg, isError) {
    const el = $('#flash');
    el.textContent = msg;
    el.className = isError ? 'error' : '';
    el.hidden = false;
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => { el.hidden = true; }, isError ? 10000 : 4000);
  }

  function showError(main, err) {
    if (err && err.name === 'AbortError') return;
    if (err && err.status === 401) return; // the login form is shown already
    clear(main).append(h('div', { class: 'error-box', id: 'page-error', role: 'alert' },
      err && err.status === 403 ? 'Forbidden: ' : '', err ? err.message : 'error'));
  }

  // ---------- login ----------

  function showLogin(message) {
    if (state.page) state.page.close();
    state.user = null;
    $('#top').hidden = true;
    clear($('#main'));
    $('#login').hidden = false;
    const err = $('#login-error');
    err.textContent = message || '';
    err.hidden = !message;
    $('#login-token').value = '';
    $('#login-token').focus();
  }

  function sessionEnded() {
    if (state.user) showLogin('Your session has ended. Sign in again.');
    else showLogin();
  }

  async function submitLogin(ev) {
    ev.preventDefault();
    const token = $('#login-token').value.trim();
    const err = $('#login-error');
    if (!token) return;
    const button = $('#login-submit');
    button.disabled = true;
    err.hidden = true;
    try {
      const res = await fetch('/login', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
        body: new URLSearchParams({ token }).toString(),
      });
      if (!res.ok) {
        let msg = `Sign-in failed (HTTP ${res.status}).`;
        try { const body = await res.json(); if (body && body.error) msg = `Sign-in failed: ${body.error}`; } catch { /* not JSON */ }
        err.textContent = msg;
        err.hidden = false;
        return;
      }
      $('#login-token').value = '';
      $('#login').hidden = true;
      await start();
    } catch (e) {
      err.textContent = `Sign-in failed: ${e.message}`;
      err.hidden = false;
    } finally {
      button.disabled = false;
    }
  }

  async function logout() {
    try { await api('/logout', { method: 'POST', quiet401: true }); } catch { /* the session is gone either way */ }
    state.namespaces = [];
    state.names = {};
    showLogin();
  }

  // ---------- start and routing ----------

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
    else if (section === 'endpoints') renderEndpoints(page, main, state.ns);
    else if (section === 'usage') renderUsage(page, main, state.ns);
    else main.append(h('div', { class: 'error-box' }, 'No such page.'));
  }

  // ---------- runs list ----------

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

  function renderRuns(page, main, ns, query) {
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

  // ---------- run detail ----------

  function renderRun(page, main, ns, name) {
    const view = {
      ns, name, page,
      run: null,
      selected: null, // {step, attempt}
      keys: {},       // last rendered data per section: skip re-rendering what did not change
      logs: null,
      // One Idempotency-Key per visit of this page: a double click or a retried request
      // finds the replay it already made instead of starting a second one.
      replayKey: randomKey(),
    };
    const head = h('div', { class: 'detail-head', id: 'run-head' });
    const message = h('div', { id: 'run-message-box' });
    const summary = h('dl', { class: 'summary', id: 'summary' });
    const determinism = h('section', { id: 'determinism', hidden: true });
    const steps = h('section', { id: 'steps' });
    const logs = h('section', { id: 'logs' },
      h('div', { class: 'log-head' }, h('h2', { id: 'log-title' }, 'Logs'), h('span', { id: 'log-controls' }), h('span', { id: 'log-live' })),
      h('pre', { id: 'log' }, h('span', { class: 'muted' }, 'Select a step to see its logs.')));
    const artifacts = h('section', { id: 'artifacts-section' },
      h('h2', {}, 'Artifacts'), h('div', { id: 'artifacts-box' }),
      h('div', { id: 'preview-panel', hidden: true },
        h('h3', { id: 'preview-title' }), h('p', { id: 'preview-note', class: 'muted', hidden: true }), h('pre', { id: 'preview' })));
    Object.assign(view, { head, message, summary, determinism, steps, artifacts });
    main.append(head, message, summary, determinism, steps, logs, artifacts);
    head.append(h('h1', {}, name), h('span', { class: 'muted' }, 'loading…'));

    let inflight = false;
    async function load() {
      if (inflight) return;
      inflight = true;
      try {
        const run = await api(nsAPI(ns, 'runs', name), { signal: page.signal() });
        if (page.closed) return;
        view.run = run;
        drawRun(view);
      } catch (e) {
        if (page.closed || e.name === 'AbortError') return;
        if (!view.run) showError(main, e);
      } finally {
        inflight = false;
      }
    }
    load();
    // Poll until the run has finished and, for a replay, the comparison has settled.
    page.every(REFRESH_MS, () => {
      const r = view.run;
      if (!r || document.hidden) return;
      if (isFinished(r) && !(r.replay && r.replay.verdict === 'pending')) return;
      load();
    });
  }

  // changed reports whether data differs from what section last showed, and remembers it.
  function changed(view, section, data) {
    const key = JSON.stringify(data);
    if (view.keys[section] === key) return false;
    view.keys[section] = key;
    return true;
  }

  function drawRun(view) {
    const r = view.run;
    const finished = isFinished(r);
    if (changed(view, 'head', [r.phase, finished, r.cancel])) drawHead(view);
    if (changed(view, 'message', [r.message, r.reason, r.phase])) {
      clear(view.message);
      if (r.message) view.message.append(h('p', { class: `message phase-${r.phase}`, id: 'run-message' }, r.message));
    }
    // Durations tick while running, so the summary is cheap to redraw every time.
    drawSummary(view);
    if (changed(view, 'replay', r.replay || null)) drawDeterminism(view);
    if (changed(view, 'steps', [r.steps, r.startedAt, r.finishedAt]) || !finished) drawSteps(view);
    if (changed(view, 'artifacts', r.artifacts || [])) drawArtifacts(view);
    // A step selected before it started has no logs yet: start following once it runs.
    if (view.selected && view.logs && view.logs.waiting) {
      const st = (r.steps || []).find((x) => x.name === view.selected.step);
      if (st && (st.phase !== 'Pending' || finished)) openLogs(view, st.name, view.selected.attempt);
    }
  }

  function drawHead(view) {
    const r = view.run;
    const finished = isFinished(r);
    const replay = h('button', { type: 'button', id: 'replay', class: 'secondary', title: 'Start a new Run with the same input' }, 'Replay');
    replay.addEventListener('click', async () => {
      replay.disabled = true;
      try {
        const ref = await api(nsAPI(view.ns, 'runs', view.name, 'replay'), { method: 'POST', headers: { 'Idempotency-Key': view.replayKey } });
        flash(`Replay ${ref.run} created.`);
        location.hash = route(ref.namespace || view.ns, 'runs', ref.run);
      } catch (e) {
        if (e.status !== 401) flash(`Replay failed: ${e.message}`, true);
        replay.disabled = false;
      }
    });
    // Cancel asks for a second click instead of a modal confirm(), which would block the page.
    const cancel = h('button', { type: 'button', id: 'cancel', class: 'danger', hidden: finished, disabled: !!r.cancel },
      r.cancel ? 'Canceling…' : 'Cancel');
    let armed = null;
    cancel.addEventListener('click', async () => {
      if (!armed) {
        cancel.classList.add('armed');
        cancel.textContent = 'Confirm cancel';
        armed = setTimeout(() => { armed = null; cancel.classList.remove('armed'); cancel.textContent = 'Cancel'; }, 4000);
        return;
      }
      clearTimeout(armed);
      cancel.disabled = true;
      try {
        await api(nsAPI(view.ns, 'runs', view.name, 'cancel'), { method: 'POST' });
        cancel.textContent = 'Canceling…';
        flash(`Cancel requested for ${view.name}.`);
      } catch (e) {
        if (e.status !== 401) flash(`Cancel failed: ${e.message}`, true);
        cancel.disabled = false;
        cancel.classList.remove('armed');
        cancel.textContent = 'Cancel';
        armed = null;
      }
    });
    clear(view.head).append(
      h('h1', { id: 'run-name' }, r.name),
      h('span', { id: 'run-phase' }, badge(r.phase)),
      h('a', { href: route(view.ns, 'runs'), class: 'muted' }, '← all runs'),
      h('span', { class: 'actions' }, replay, cancel));
  }

  function drawSummary(view) {
    const r = view.run;
    const rows = [
      ['Workflow', h('a', { href: `${route(view.ns, 'runs')}?workflow=${enc(r.workflow)}` }, r.workflow)],
      ['Trigger', r.trigger],
      ['Endpoint', r.endpoint],
      ['Delivery', r.deliveryID ? h('code', {}, r.deliveryID) : ''],
      ['Created', fmtTime(r.createdAt)],
      ['Started', fmtTime(r.startedAt)],
      ['Finished', fmtTime(r.finishedAt)],
      ['Duration', runDuration(r)],
      ['Replay of', r.replayOf ? h('a', { href: route(view.ns, 'runs', r.replayOf), id: 'replay-of' }, r.replayOf) : ''],
      ['Reason', r.reason],
      ['Spec digest', r.specDigest ? h('code', { title: r.specDigest }, shortDigest(r.specDigest)) : ''],
      ['Input digest', r.inputDigest ? h('code', { title: r.inputDigest }, shortDigest(r.inputDigest)) : ''],
      ['UID', r.uid ? h('code', {}, r.uid) : ''],
      ['Cancel', r.cancel && !isFinished(r) ? 'requested' : ''],
    ].filter(([, v]) => v);
    clear(view.summary).append(...rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', { dataset: { field: k.toLowerCase().replace(/\s+/g, '-') } }, v)]));
  }

  function drawDeterminism(view) {
    const rc = view.run.replay;
    const sec = view.determinism;
    clear(sec);
    sec.hidden = !rc;
    if (!rc) return;
    const rows = (rc.steps || []).map((st) => h('tr', { dataset: { step: st.name } },
      h('td', { class: 'step' }, st.name),
      h('td', { class: 'digest original' }, st.original ? h('code', { title: st.original }, shortDigest(st.original)) : h('span', { class: 'muted' }, '—')),
      h('td', { class: 'digest replay' }, st.replay ? h('code', { title: st.replay }, shortDigest(st.replay)) : h('span', { class: 'muted' }, '—')),
      h('td', { class: 'match', dataset: { match: st.match } }, badge(st.match, `match-${st.match}`))));
    append(sec, [
      h('h2', {}, 'Determinism check'),
      h('p', {}, 'This run replays ', h('a', { id: 'original-link', href: route(view.ns, 'runs', rc.of) }, rc.of),
        ' with the same input. Each step\u2019s ', h('code', {}, 'result'), ' digest is compared with the original\u2019s. Verdict: ',
        h('span', { id: 'verdict', class: `badge match-${rc.verdict}`, dataset: { verdict: rc.verdict } }, rc.verdict)),
      rc.sameSpec ? null : h('p', { class: 'error', id: 'spec-changed' },
        'The workflow changed between the original and this replay, so differences can come from the new spec.'),
      h('table', { id: 'determinism-table' },
        h('thead', {}, h('tr', {}, ['Step', 'Original digest', 'Replay digest', 'Match'].map((c) => h('th', {}, c)))),
        h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { class: 'empty', colspan: 4 }, 'No steps to compare yet.'))))]);
  }

  // ----- steps: DAG and timeline -----

  // layers places each step in the column of its dependsOn depth (0 = no dependencies).
  function layers(steps) {
    const byName = new Map(steps.map((st) => [st.name, st]));
    const depth = new Map();
    const visiting = new Set();
    function d(name) {
      if (depth.has(name)) return depth.get(name);
      if (visiting.has(name)) return 0; // a cycle cannot pass validation; do not loop on one
      visiting.add(name);
      const deps = (byName.get(name).dependsOn || []).filter((x) => byName.has(x));
      const v = deps.length ? 1 + Math.max(...deps.map(d)) : 0;
      visiting.delete(name);
      depth.set(name, v);
      return v;
    }
    const cols = [];
    for (const st of steps) {
      const v = d(st.name);
      (cols[v] = cols[v] || []).push(st);
    }
    return cols.map((c) => c || []);
  }

  function selectStepFrom(view, name) {
    const st = (view.run.steps || []).find((x) => x.name === name);
    openLogs(view, name, st && st.attempts > 0 ? st.attempts : 1);
  }

  function drawDAG(view, steps) {
    const W = 168, H = 48, GX = 64, GY = 18, P = 12;
    const cols = layers(steps);
    const rowsMax = Math.max(1, ...cols.map((c) => c.length));
    const width = P * 2 + cols.length * W + Math.max(0, cols.length - 1) * GX;
    const height = P * 2 + rowsMax * H + (rowsMax - 1) * GY;
    const pos = new Map();
    cols.forEach((col, ci) => {
      // Centre shorter columns vertically so fan-outs and fan-ins read symmetrically.
      const offset = ((rowsMax - col.length) * (H + GY)) / 2;
      col.forEach((st, ri) => pos.set(st.name, { x: P + ci * (W + GX), y: P + offset + ri * (H + GY) }));
    });
    const svgEl = s('svg', { id: 'dag', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'Step graph' },
      s('defs', {}, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
        s('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrow' }))));
    for (const st of steps) {
      const to = pos.get(st.name);
      for (const dep of st.dependsOn || []) {
        const from = pos.get(dep);
        if (!from) continue;
        const x1 = from.x + W, y1 = from.y + H / 2, x2 = to.x - 2, y2 = to.y + H / 2, mx = (x1 + x2) / 2;
        svgEl.append(s('path', { class: 'edge', d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`, 'marker-end': 'url(#arrow)', dataset: { from: dep, to: st.name } }));
      }
    }
    for (const st of steps) {
      const p = pos.get(st.name);
      const label = st.name.length > 20 ? `${st.name.slice(0, 19)}…` : st.name;
      const sub = [st.phase, st.durationSeconds !== undefined && st.durationSeconds !== null ? fmtDuration(st.durationSeconds) : '',
        st.attempts > 1 ? `×${st.attempts}` : ''].filter(Boolean).join(' · ');
      const g = s('g', {
        class: `node phase-${st.phase}${view.selected && view.selected.step === st.name ? ' selected' : ''}`,
        transform: `translate(${p.x},${p.y})`, tabindex: 0, role: 'button',
        dataset: { step: st.name, phase: st.phase },
      },
      s('title', {}, `${st.name}: ${st.phase}${st.message ? ' — ' + st.message : ''}`),
      s('rect', { width: W, height: H, rx: 8, ry: 8 }),
      s('text', { x: 12, y: 20, class: 'name' }, label),
      s('text', { x: 12, y: 37, class: 'sub' }, sub));
      g.addEventListener('click', () => selectStepFrom(view, st.name));
      g.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); selectStepFrom(view, st.name); } });
      svgEl.append(g);
    }
    return svgEl;
  }

  function drawTimeline(view, steps) {
    const r = view.run;
    const starts = steps.map((st) => st.startTime).filter(Boolean).map((t) => new Date(t).getTime());
    const ends = steps.map((st) => st.completionTime).filter(Boolean).map((t) => new Date(t).getTime());
    const now = Date.now();
    const t0 = r.startedAt ? new Date(r.startedAt).getTime() : (starts.length ? Math.min(...starts) : new Date(r.createdAt).getTime());
    const t1 = r.finishedAt ? new Date(r.finishedAt).getTime() : (isFinished(r) ? Math.max(t0, ...ends) : now);
    const span = Math.max(t1 - t0, 1);
    const rows = steps.map((st) => {
      const track = h('div', { class: 'track' });
      if (st.startTime) {
        const a = new Date(st.startTime).getTime();
        const b = st.completionTime ? new Date(st.completionTime).getTime() : (isFinished(r) ? t1 : now);
        const bar = h('div', { class: `bar phase-${st.phase}`, title: `${fmtTime(st.startTime)} → ${st.completionTime ? fmtTime(st.completionTime) : '…'}` });
        // CSSOM style writes are allowed under a CSP without 'unsafe-inline'; style attributes are not.
        bar.style.left = `${Math.max(0, Math.min(100, ((a - t0) / span) * 100))}%`;
        bar.style.width = `${Math.max(0.4, Math.min(100, ((b - a) / span) * 100))}%`;
        track.append(bar);
      }
      const tr = h('tr', { class: `clickable${view.selected && view.selected.step === st.name ? ' selected' : ''}`, dataset: { step: st.name, phase: st.phase } },
        h('td', { class: 'step-name' }, h('strong', {}, st.name)),
        h('td', {}, badge(st.phase)),
        h('td', { class: 'num attempts' }, String(st.attempts || 0)),
        h('td', { class: 'num exit-code' }, st.exitCode === undefined || st.exitCode === null ? '' : String(st.exitCode)),
        h('td', { class: 'num' }, st.startTime ? `+${Math.max(0, (new Date(st.startTime).getTime() - t0) / 1000).toFixed(0)}s` : ''),
        h('td', { class: 'num duration' }, st.durationSeconds !== undefined && st.durationSeconds !== null ? fmtDuration(st.durationSeconds)
          : (st.startTime && !st.completionTime && !isFinished(r) ? `${fmtDuration(Math.max(0, (now - new Date(st.startTime).getTime()) / 1000))}…` : '')),
        h('td', { class: 'bar-cell' }, track),
        h('td', { class: 'step-message' }, st.message || ''));
      tr.addEventListener('click', (ev) => { ev.preventDefault(); selectStepFrom(view, st.name); });
      return tr;
    });
    return h('table', { id: 'timeline' },
      h('thead', {}, h('tr', {}, ['Step', 'Phase', 'Attempts', 'Exit', 'Start', 'Duration', 'Timeline', 'Message'].map((c) => h('th', {}, c)))),
      h('tbody', {}, rows));
  }

  function drawSteps(view) {
    const steps = view.run.steps || [];
    clear(view.steps).append(h('h2', {}, 'Steps'));
    if (!steps.length) { view.steps.append(h('p', { class: 'muted' }, 'No steps yet.')); return; }
    view.steps.append(h('div', { class: 'dag-wrap' }, drawDAG(view, steps)), drawTimeline(view, steps));
  }

  // ----- logs -----

  function markSelected(view) {
    for (const el of $$('#steps [data-step]')) el.classList.toggle('selected', !!view.selected && el.dataset.step === view.selected.step);
  }

  // openLogs shows one step attempt's lines: the stored pages first, then, while the run is
  // not finished, the live stream (EventSource sends the session cookie same-origin).
  async function openLogs(view, step, attempt) {
    if (view.logs) view.logs.close();
    view.selected = { step, attempt };
    markSelected(view);
    const pre = $('#log');
    const live = $('#log-live');
    clear(pre);
    clear(live);
    $('#log-title').textContent = `Logs — ${step}`;
    const st = (view.run.steps || []).find((x) => x.name === step) || { attempts: 1 };
    const controls = clear($('#log-controls'));
    if (st.attempts > 1) {
      const sel = h('select', { id: 'log-attempt' });
      for (let a = 1; a <= st.attempts; a++) sel.append(h('option', { value: a }, `attempt ${a}`));
      sel.value = String(attempt);
      sel.addEventListener('change', () => openLogs(view, step, Number(sel.value)));
      controls.append(sel);
    } else {
      controls.append(h('span', { class: 'muted' }, `attempt ${attempt}`));
    }
    pre.dataset.step = step;
    pre.dataset.attempt = String(attempt);
    pre.dataset.state = 'loading';

    const session = { closed: false, es: null, waiting: false, close() { this.closed = true; if (this.es) this.es.close(); } };
    view.logs = session;
    const seen = new Set();
    let count = 0;
    function add(items) {
      const frag = document.createDocumentFragment();
      for (const e of items) {
        const key = `${e.attempt}:${e.seq}`;
        if (seen.has(key)) continue; // the stream may resend lines the page already showed
        seen.add(key);
        if (++count > MAX_LOG_LINES) continue;
        frag.append(h('span', { class: `ln ${e.stream || 'stdout'}` }, h('span', { class: 't' }, `${fmtClock(e.time)} `), e.line, '\n'));
      }
      if (pre.dataset.state === 'loading' && frag.childNodes.length) clear(pre);
      const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.append(frag);
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    }
    function done(text) {
      pre.dataset.state = 'done';
      clear(live);
      if (!count) { clear(pre).append(h('span', { class: 'muted' }, text || 'No log lines.')); }
      if (count > MAX_LOG_LINES) pre.append(h('span', { class: 'muted' }, `… ${count - MAX_LOG_LINES} more lines not shown.`));
    }

    const base = nsAPI(view.ns, 'runs', view.name, 'logs');
    let cursor = '';
    let finished = false;
    try {
      for (let i = 0; i < 500; i++) {
        const q = new URLSearchParams({ step, attempt: String(attempt) });
        if (cursor) q.set('cursor', cursor);
        const page = await api(`${base}?${q}`, { signal: view.page.signal() });
        if (session.closed) return;
        add(page.items || []);
        finished = page.finished;
        const more = (page.items || []).length > 0 && page.cursor && page.cursor !== cursor;
        cursor = page.cursor || cursor;
        if (!more) break;
      }
    } catch (e) {
      if (session.closed || e.name === 'AbortError') return;
      pre.dataset.state = 'error';
      clear(pre).append(h('span', { class: 'error' }, `Cannot read logs: ${e.message}`));
      return;
    }
    if (finished || isFinished(view.run)) { done(); return; }
    if (st.phase === 'Pending') {
      // Nothing to follow yet; drawRun reopens the logs once the step starts.
      session.waiting = true;
      pre.dataset.state = 'waiting';
      if (!count) clear(pre).append(h('span', { class: 'muted' }, 'The step has not started yet.'));
      return;
    }
    const q = new URLSearchParams({ step, attempt: String(attempt), follow: 'true' });
    if (cursor) q.set('cursor', cursor);
    const es = view.page.source(new EventSource(`${base}?${q}`));
    session.es = es;
    pre.dataset.state = 'following';
    live.append(h('span', { class: 'live-dot', title: 'following' }), ' live');
    es.addEventListener('line', (ev) => {
      try { add([JSON.parse(ev.data)]); } catch { /* skip a malformed event */ }
    });
    es.addEventListener('end', () => { es.close(); done(); });
    es.addEventListener('error', () => {
      // EventSource reconnects by itself (with Last-Event-ID); stop once the view is gone or the
      // server refused the stream for good.
      if (session.closed || es.readyState === EventSource.CLOSED) { es.close(); if (!session.closed) done(); }
    });
  }

  // ----- artifacts -----

  function artifactURL(view, a) {
    return `${nsAPI(view.ns, 'runs', view.name, 'artifacts', a.step, a.name)}?attempt=${enc(a.attempt)}`;
  }

  function drawArtifacts(view) {
    const order = new Map((view.run.steps || []).map((st, i) => [st.name, i]));
    const items = (view.run.artifacts || []).slice().sort((a, b) =>
      (order.get(a.step) ?? 1e9) - (order.get(b.step) ?? 1e9) || a.step.localeCompare(b.step) ||
      a.attempt - b.attempt || a.name.localeCompare(b.name));
    const box = clear($('#artifacts-box', view.artifacts));
    if (!items.length) { box.append(h('p', { class: 'muted', id: 'no-artifacts' }, 'No artifacts yet.')); return; }
    const rows = items.map((a) => {
      const preview = h('button', { type: 'button', class: 'small secondary preview' }, 'Preview');
      preview.addEventListener('click', () => showPreview(view, a, tr));
      const tr = h('tr', { dataset: { artifact: `${a.step}/${a.name}`, attempt: String(a.attempt) } },
        h('td', {}, a.step),
        h('td', { class: 'num' }, String(a.attempt)),
        h('td', {}, h('code', {}, a.name)),
        h('td', {}, a.contentType),
        h('td', { class: 'num' }, fmtBytes(a.size)),
        h('td', {}, h('code', { title: a.digest }, shortDigest(a.digest))),
        timeCell(a.createdAt),
        h('td', { class: 'actions' }, preview, ' ',
          h('a', { class: 'button small secondary download', href: artifactURL(view, a), download: '' }, 'Download')));
      return tr;
    });
    box.append(h('table', { id: 'artifacts' },
      h('thead', {}, h('tr', {}, ['Step', 'Attempt', 'Name', 'Type', 'Size', 'Digest', 'Created', ''].map((c) => h('th', {}, c)))),
      h('tbody', {}, rows)));
  }

  async function showPreview(view, a, tr) {
    for (const row of $$('#artifacts tr.selected')) row.classList.remove('selected');
    tr.classList.add('selected');
    const panel = $('#preview-panel');
    const pre = $('#preview');
    const note = $('#preview-note');
    panel.hidden = false;
    $('#preview-title').textContent = `${a.step} / ${a.name} (attempt ${a.attempt})`;
    pre.textContent = 'Loading…';
    pre.dataset.state = 'loading';
    note.hidden = true;
    try {
      const p = await api(`${nsAPI(view.ns, 'runs', view.name, 'artifacts', a.step, a.name, 'preview')}?attempt=${enc(a.attempt)}`, { signal: view.page.signal() });
      pre.dataset.kind = p.kind;
      pre.dataset.artifact = `${a.step}/${a.name}`;
      if (p.kind === 'binary') {
        pre.textContent = `Binary content (${p.contentType}, ${fmtBytes(p.size)}): use Download.`;
      } else {
        pre.textContent = p.text || '';
      }
      if (p.truncated) {
        note.textContent = `Showing the beginning of ${fmtBytes(p.size)}; download for the whole artifact.`;
        note.hidden = false;
      }
      pre.dataset.state = 'done';
    } catch (e) {
      if (e.name === 'AbortError') return;
      pre.dataset.state = 'error';
      pre.textContent = `Cannot preview: ${e.message}`;
    }
    panel.scrollIntoView({ block: 'nearest' });
  }

  // ---------- workflows ----------

  async function renderWorkflows(page, main, ns) {
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
      h('td', {}, h('a', { href: `${route(ns, 'runs')}?workflow=${enc(w.name)}` }, 'runs'))));
    main.append(h('table', { id: 'workflows' },
      h('thead', {}, h('tr', {}, ['Name', 'Steps', 'Concurrency', 'Status', 'Last run', 'Message', ''].map((c) => h('th', {}, c)))),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { class: 'empty', colspan: 7 }, 'No workflows in this namespace.')))));
  }

  // ---------- endpoints ----------

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

  async function renderEndpoints(page, main, ns) {
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
        h('td', {}, h('a', { href: `${route(ns, 'runs')}?endpoint=${enc(ep.name)}` }, 'runs')));
    });
    main.append(h('table', { id: 'endpoints' },
      h('thead', {}, h('tr', {}, ['Name', 'Workflow', 'URL', 'Scheme', 'Status', 'Message', ''].map((c) => h('th', {}, c)))),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { class: 'empty', colspan: 7 }, 'No webhook endpoints in this namespace.')))));
  }

  // ---------- usage ----------

  const USAGE_LABELS = {
    workflows: 'Workflows',
    webhookEndpoints: 'Webhook endpoints',
    runsPerMonth: 'Runs this billing period',
    concurrentRuns: 'Concurrent runs',
  };

  async function renderUsage(page, main, ns) {
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

  // ---------- wiring ----------

  document.addEventListener('DOMContentLoaded', () => {
    $('#login-form').addEventListener('submit', submitLogin);
    $('#logout').addEventListener('click', logout);
    $('#ns-select').addEventListener('change', (ev) => {
      const { parts } = parseHash();
      const section = parts[2] && parts[2] !== 'runs' ? parts[2] : 'runs';
      location.hash = route(ev.target.value, section);
    });
    window.addEventListener('hashchange', render);
    start();
  });
})();
