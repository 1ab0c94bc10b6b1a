// run.js: one run's page: head (replay, resume, cancel), summary and determinism check; the
// approval gates, steps, logs and artifacts sections are drawn by approval.js, dag.js,
// logs.js and artifacts.js.
import { api, nsAPI, randomKey } from './api.js';
import { drawGates } from './approval.js';
import { drawArtifacts } from './artifacts.js';
import { drawSteps, selectStep } from './dag.js';
import { append, badge, clear, h } from './dom.js';
import { fmtTime, isFinished, runDuration, shortDigest } from './format.js';
import { drawItems } from './itemlist.js';
import { fannedOut, findUnit } from './items.js';
import { openLogs } from './logs.js';
import { flash, showError } from './notice.js';
import { canResume } from './resume.js';
import { enc, route } from './routes.js';
import { REFRESH_MS } from './state.js';

export function renderRun(page, main, ns, name) {
  const view = {
    ns, name, page,
    run: null,
    selected: null, // {step, attempt}
    keys: {},       // last rendered data per section: skip re-rendering what did not change
    logs: null,
    // One Idempotency-Key per visit of this page and action: a double click or a retried
    // request finds the replay (or resume) it already made instead of starting a second one.
    replayKey: randomKey(),
    resumeKey: randomKey(),
    sent: {},     // step -> the decision the API answered, until the run's status has it
    comments: {}, // step -> the comment being typed on a waiting gate
    reload: null, // load(): a decision asks for the run again at once
  };
  const head = h('div', { class: 'detail-head', id: 'run-head' });
  const message = h('div', { id: 'run-message-box' });
  const summary = h('dl', { class: 'summary', id: 'summary' });
  const determinism = h('section', { id: 'determinism', hidden: true });
  const gates = h('section', { id: 'gates', hidden: true }); // approval gates (approval.js)
  const steps = h('section', { id: 'steps' });
  const items = h('section', { id: 'items', hidden: true }); // a selected forEach step's items (itemlist.js)
  const logs = h('section', { id: 'logs' },
    h('div', { class: 'log-head' }, h('h2', { id: 'log-title' }, 'Logs'), h('span', { id: 'log-controls' }), h('span', { id: 'log-live' })),
    h('pre', { id: 'log' }, h('span', { class: 'muted' }, 'Select a step to see its logs.')));
  const artifacts = h('section', { id: 'artifacts-section' },
    h('h2', {}, 'Artifacts'), h('div', { id: 'artifacts-box' }),
    h('div', { id: 'preview-panel', hidden: true },
      h('h3', { id: 'preview-title' }), h('p', { id: 'preview-note', class: 'muted', hidden: true }), h('pre', { id: 'preview' })));
  Object.assign(view, { head, message, summary, determinism, gates, steps, items, artifacts });
  main.append(head, message, gates, summary, determinism, steps, items, logs, artifacts);
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
  view.reload = load;
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
  drawGates(view);
  if (changed(view, 'steps', [r.steps, r.startedAt, r.finishedAt]) || !finished) drawSteps(view);
  drawItems(view);
  if (changed(view, 'artifacts', r.artifacts || [])) drawArtifacts(view);
  // A step (or item) selected before it started has no logs yet: start following once it
  // runs; a forEach step that has fanned out since opens one of its items.
  if (view.selected && view.logs && view.logs.waiting) {
    const st = findUnit(r.steps, view.selected.step);
    if (st && fannedOut(st)) selectStep(view, st.name);
    else if (st && (st.phase !== 'Pending' || finished)) openLogs(view, st.name, view.selected.attempt);
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
  // Resume (a Failed or Canceled run) and Cancel ask for a second click instead of a modal
  // confirm(), which would block the page.
  const resume = confirmButton({ id: 'resume', class: 'secondary', hidden: !canResume(r),
    title: 'Start a new Run that reruns what did not succeed; the steps that succeeded keep their outputs' },
  'Resume', 'Confirm resume', async () => {
    const ref = await api(nsAPI(view.ns, 'runs', view.name, 'resume'), { method: 'POST', headers: { 'Idempotency-Key': view.resumeKey } });
    flash(`Resume ${ref.run} created.`);
    location.hash = route(ref.namespace || view.ns, 'runs', ref.run);
  }, (e) => { if (e.status !== 401) flash(`Resume failed: ${e.message}`, true); });
  const cancel = confirmButton({ id: 'cancel', class: 'danger', hidden: finished, disabled: !!r.cancel },
    'Cancel', 'Confirm cancel', async () => {
      await api(nsAPI(view.ns, 'runs', view.name, 'cancel'), { method: 'POST' });
      cancel.textContent = 'Canceling…';
      flash(`Cancel requested for ${view.name}.`);
    }, (e) => { if (e.status !== 401) flash(`Cancel failed: ${e.message}`, true); });
  if (r.cancel) cancel.textContent = 'Canceling…';
  clear(view.head).append(
    h('h1', { id: 'run-name' }, r.name),
    h('span', { id: 'run-phase' }, badge(r.phase)),
    h('a', { href: route(view.ns, 'runs'), class: 'muted' }, '← all runs'),
    h('span', { class: 'actions' }, replay, resume, cancel));
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
    ['Resumed from', r.resumeOf ? h('a', { href: route(view.ns, 'runs', r.resumeOf), id: 'resume-of' }, r.resumeOf) : ''],
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

// confirmButton is a button that acts on its second click within 4 s (the first arms it and
// says confirmLabel): act runs once confirmed; when it throws, failed gets the error and
// the button is as before.
function confirmButton(attrs, label, confirmLabel, act, failed) {
  const b = h('button', { type: 'button', ...attrs }, label);
  let armed = null;
  const disarm = () => { armed = null; b.classList.remove('armed'); b.textContent = label; };
  b.addEventListener('click', async () => {
    if (!armed) {
      b.classList.add('armed');
      b.textContent = confirmLabel;
      armed = setTimeout(disarm, 4000);
      return;
    }
    clearTimeout(armed);
    b.disabled = true;
    try {
      await act();
    } catch (e) {
      failed(e);
      b.disabled = false;
      disarm();
    }
  });
  return b;
}
