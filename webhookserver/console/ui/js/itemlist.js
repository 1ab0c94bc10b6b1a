// itemlist.js: the items of the selected forEach step, one row each (index, phase,
// attempts, exit code, run time, message). A row opens that item's logs as a step row
// does; an item with a result previews and downloads it as the artifacts table does.
import { artifactURL, showPreview } from './artifacts.js';
import { badge, clear, h } from './dom.js';
import { fmtDuration } from './format.js';
import { fannedOut, itemsSummary, stepOfName } from './items.js';
import { openLogs } from './logs.js';

// drawItems shows the items of the step the selection belongs to (the step, or one of its
// items), or hides the section when that step did not fan out. It redraws only when the
// step or its items changed (a step may have 1000 items); openLogs marks the selected row.
export function drawItems(view) {
  const sec = view.items;
  const name = view.selected ? stepOfName(view.selected.step) : '';
  const st = (view.run.steps || []).find((x) => x.name === name);
  const key = JSON.stringify(fannedOut(st) ? [st.name, st.items] : null);
  if (view.keys.items === key) return;
  view.keys.items = key;
  clear(sec);
  sec.hidden = !fannedOut(st);
  if (sec.hidden) return;
  const rows = (st.items || []).map((it) => {
    const open = () => openLogs(view, it.name, it.attempts || 1);
    const actions = h('td', { class: 'actions' });
    if (it.outputDigest && it.attempts) {
      // The item's result is the `result` artifact of its last attempt, as a step's is.
      const a = { step: it.name, name: 'result', attempt: it.attempts };
      const preview = h('button', { type: 'button', class: 'small secondary preview' }, 'Preview result');
      preview.addEventListener('click', (ev) => { ev.stopPropagation(); showPreview(view, a); });
      const download = h('a', { class: 'button small secondary download', href: artifactURL(view, a), download: '' }, 'Download');
      download.addEventListener('click', (ev) => ev.stopPropagation());
      actions.append(preview, ' ', download);
    }
    const tr = h('tr', { class: `clickable${view.selected.step === it.name ? ' selected' : ''}`, dataset: { step: it.name, phase: it.phase } },
      h('td', { class: 'num item-index' }, String(it.index)),
      h('td', {}, h('code', {}, it.name)),
      h('td', {}, badge(it.phase)),
      h('td', { class: 'num attempts' }, String(it.attempts || 0)),
      h('td', { class: 'num exit-code' }, it.exitCode === undefined || it.exitCode === null ? '' : String(it.exitCode)),
      h('td', { class: 'num duration' }, it.runSeconds === undefined || it.runSeconds === null ? '' : fmtDuration(it.runSeconds)),
      h('td', { class: 'step-message' }, it.message || ''),
      actions);
    tr.addEventListener('click', (ev) => { ev.preventDefault(); open(); });
    return tr;
  });
  sec.append(
    h('h2', {}, 'Items of ', h('code', {}, st.name)),
    h('p', { class: 'muted', id: 'items-summary' }, itemsSummary(st), ' — select an item for its logs.'),
    h('div', { class: 'items-wrap' }, h('table', { id: 'items-table' },
      h('thead', {}, h('tr', {}, ['#', 'Item', 'Phase', 'Attempts', 'Exit', 'Run time', 'Message', ''].map((c) => h('th', {}, c)))),
      h('tbody', {}, rows))));
}
