// logs.js: one step attempt's log lines: the stored pages, then the live EventSource
// stream while the run goes on.
import { api, nsAPI } from './api.js';
import { $, $$, clear, h } from './dom.js';
import { fmtClock, isFinished } from './format.js';
import { findUnit, stepOfName } from './items.js';

const MAX_LOG_LINES = 20000;

// markSelected highlights the selected step, or the selected item and its step's node and
// timeline row.
function markSelected(view) {
  const sel = view.selected ? view.selected.step : null;
  for (const el of $$('#steps [data-step], #items [data-step]')) {
    el.classList.toggle('selected', !!sel && (el.dataset.step === sel || el.dataset.step === stepOfName(sel)));
  }
}

// openLogs shows one step attempt's lines: the stored pages first, then, while the run is
// not finished, the live stream (EventSource sends the session cookie same-origin). step
// may name a forEach item (`square.3`): its lines are read exactly as a step's.
export async function openLogs(view, step, attempt) {
  if (view.logs) view.logs.close();
  view.selected = { step, attempt };
  markSelected(view);
  const pre = $('#log');
  const live = $('#log-live');
  clear(pre);
  clear(live);
  $('#log-title').textContent = `Logs — ${step}`;
  const st = findUnit(view.run.steps, step) || { attempts: 1 };
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
      // Lines are numbered per stream: stdout line 1 and stderr line 1 are two lines, and
      // so are line 1 of two items (a forEach step's name reads all of its items).
      const key = `${e.step}:${e.attempt}:${e.stream}:${e.seq}`;
      if (seen.has(key)) continue; // the stream may resend lines the page already showed
      seen.add(key);
      if (++count > MAX_LOG_LINES) continue;
      frag.append(h('span', { class: `ln ${e.stream || 'stdout'}` }, h('span', { class: 't' }, `${fmtClock(e.time)} `),
        e.step && e.step !== step ? h('span', { class: 't' }, `[${e.step}] `) : null, e.line, '\n'));
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
    // Nothing to follow yet; drawRun (run.js) reopens the logs once the step starts.
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
  es.addEventListener('end', (ev) => {
    es.close();
    let end = {};
    try { end = JSON.parse(ev.data); } catch { /* an end without data */ }
    done();
    // The server ends a follow whose caller may no longer read the run's logs.
    if (end.forbidden) pre.append(h('span', { class: 'error', id: 'log-forbidden' }, `Stopped following: ${end.message || 'access to these logs was revoked'}.`));
  });
  es.addEventListener('error', () => {
    // EventSource reconnects by itself (with Last-Event-ID); stop once the view is gone or the
    // server refused the stream for good.
    if (session.closed || es.readyState === EventSource.CLOSED) { es.close(); if (!session.closed) done(); }
  });
}
