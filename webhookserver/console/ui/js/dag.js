// dag.js: a run's steps: the SVG graph of dependsOn and the timeline table. Clicking a
// step opens its logs; a forEach step is one node that counts its items, and clicking it
// lists them (itemlist.js); an approval gate's node says whether it waits or who decided,
// and clicking it goes to its Approve / Reject box (approval.js); a cached step's node reads
// "cached" and its message where its outputs come from (resume.js).
import { focusGate } from './approval.js';
import { badge, clear, h, s } from './dom.js';
import { fmtDuration, fmtTime, isFinished, stepSeconds } from './format.js';
import { gateLabel, isGate } from './gate.js';
import { drawItems } from './itemlist.js';
import { fannedOut, findUnit, firstItem, itemsLabel, itemsSummary, stepOfName } from './items.js';
import { openLogs } from './logs.js';
import { cachedMessage, isCached } from './resume.js';
import { route } from './routes.js';

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

// selectStep opens the logs of a step's (or an item's) latest attempt. A fanned-out step
// has no attempts of its own: its items are listed and the logs opened are those of the
// item firstItem picks (until one ran, the step's name reads all its items' lines).
export function selectStep(view, name) {
  const st = findUnit(view.run.steps, name);
  if (isGate(st)) { focusGate(view, name); return; } // a gate runs nothing: no logs
  const it = fannedOut(st) ? firstItem(st) : null;
  if (it) openLogs(view, it.name, it.attempts || 1);
  else openLogs(view, name, st && st.attempts > 0 ? st.attempts : 1);
  drawItems(view);
}

// clip fits a node's line in its width (the tooltip has all of it).
const clip = (text, n) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);

const isSelected = (view, st) => !!view.selected && stepOfName(view.selected.step) === st.name;

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
    const secs = stepSeconds(st);
    const fanned = fannedOut(st);
    const gate = isGate(st);
    const cached = isCached(st);
    // A fanned-out node has no duration or attempts of its own: its line counts its items
    // and its colour is the step's phase. A gate's line says it waits, or who decided; a
    // cached step's that it ran nothing (its tooltip and row say where from).
    const sub = fanned ? [st.finally ? 'finally' : '', itemsLabel(st)].filter(Boolean).join(' · ')
      : gate ? clip([st.finally ? 'finally' : '', gateLabel(st)].filter(Boolean).join(' · '), 27)
      : cached ? [st.finally ? 'finally' : '', 'cached'].filter(Boolean).join(' · ')
      : [st.finally ? 'finally' : '', st.phase, secs !== undefined && secs !== null ? fmtDuration(secs) : '',
        st.attempts > 1 ? `×${st.attempts}` : ''].filter(Boolean).join(' · ');
    const g = s('g', {
      class: `node phase-${st.phase}${st.finally ? ' finally' : ''}${fanned ? ' fanned' : ''}${gate ? ' gate' : ''}${cached ? ' cached' : ''}${isSelected(view, st) ? ' selected' : ''}`,
      transform: `translate(${p.x},${p.y})`, tabindex: 0, role: 'button',
      dataset: fanned ? { step: st.name, phase: st.phase, items: String(st.itemTotal) } : { step: st.name, phase: st.phase },
    },
    s('title', {}, `${st.name}: ${st.phase}${fanned ? ' — ' + itemsSummary(st) : ''}${cachedMessage(st) ? ' — ' + cachedMessage(st) : ''}`),
    // A fanned-out node is drawn as a stack: one card behind it stands for its items.
    fanned ? s('rect', { class: 'stack', x: 4, y: -4, width: W, height: H, rx: 8, ry: 8 }) : null,
    s('rect', { width: W, height: H, rx: 8, ry: 8 }),
    s('text', { x: 12, y: 20, class: 'name' }, label),
    s('text', { x: 12, y: 37, class: 'sub' }, sub));
    g.addEventListener('click', () => selectStep(view, st.name));
    g.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); selectStep(view, st.name); } });
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
    const tr = h('tr', { class: `clickable${isSelected(view, st) ? ' selected' : ''}`, dataset: { step: st.name, phase: st.phase } },
      h('td', { class: 'step-name' }, h('strong', {}, st.name)),
      h('td', {}, badge(st.phase)),
      h('td', { class: 'num attempts', title: fannedOut(st) ? itemsSummary(st) : null },
        fannedOut(st) ? `${st.itemTotal} ${st.itemTotal === 1 ? 'item' : 'items'}` : isGate(st) ? '' : String(st.attempts || 0)),
      h('td', { class: 'num exit-code' }, st.exitCode === undefined || st.exitCode === null ? '' : String(st.exitCode)),
      h('td', { class: 'num' }, st.startTime ? `+${Math.max(0, (new Date(st.startTime).getTime() - t0) / 1000).toFixed(0)}s` : ''),
      h('td', { class: 'num duration' }, stepSeconds(st) !== undefined && stepSeconds(st) !== null ? fmtDuration(stepSeconds(st))
        : (st.startTime && !st.completionTime && !isFinished(r) ? `${fmtDuration(Math.max(0, (now - new Date(st.startTime).getTime()) / 1000))}…` : '')),
      h('td', { class: 'bar-cell' }, track),
      h('td', { class: 'step-message' }, cachedMessage(st),
        // A workflowRef step links to the child Run it started.
        st.childRun ? h('a', { class: 'child-run', href: route(view.ns, 'runs', st.childRun) }, ` → ${st.childRun}`) : null));
    tr.addEventListener('click', (ev) => { ev.preventDefault(); selectStep(view, st.name); });
    return tr;
  });
  return h('table', { id: 'timeline' },
    h('thead', {}, h('tr', {}, ['Step', 'Phase', 'Attempts', 'Exit', 'Start', 'Duration', 'Timeline', 'Message'].map((c) => h('th', {}, c)))),
    h('tbody', {}, rows));
}

export function drawSteps(view) {
  const steps = view.run.steps || [];
  clear(view.steps).append(h('h2', {}, 'Steps'));
  if (!steps.length) { view.steps.append(h('p', { class: 'muted' }, 'No steps yet.')); return; }
  view.steps.append(h('div', { class: 'dag-wrap' }, drawDAG(view, steps)), drawTimeline(view, steps));
}
