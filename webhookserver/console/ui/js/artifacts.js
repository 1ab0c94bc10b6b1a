// artifacts.js: a run's artifacts table, download links and the text preview.
import { api, nsAPI } from './api.js';
import { $, $$, clear, h, timeCell } from './dom.js';
import { fmtBytes, shortDigest } from './format.js';
import { itemIndex, stepOfName } from './items.js';
import { enc } from './routes.js';

export function artifactURL(view, a) {
  return `${nsAPI(view.ns, 'runs', view.name, 'artifacts', a.step, a.name)}?attempt=${enc(a.attempt)}`;
}

export function drawArtifacts(view) {
  const order = new Map((view.run.steps || []).map((st, i) => [st.name, i]));
  // An item's artifacts (`square.3`) follow their step's, in item order.
  const items = (view.run.artifacts || []).slice().sort((a, b) =>
    (order.get(stepOfName(a.step)) ?? 1e9) - (order.get(stepOfName(b.step)) ?? 1e9) ||
    stepOfName(a.step).localeCompare(stepOfName(b.step)) || itemIndex(a.step) - itemIndex(b.step) ||
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
  // The run's page lists its first artifacts only; the artifacts route lists them all.
  if (view.run.artifactsTruncated) {
    box.append(h('p', { class: 'muted', id: 'artifacts-truncated' },
      `Showing the first ${items.length} artifacts; `, h('code', {}, `aias artifacts ${view.name} -n ${view.ns}`), ' lists them all.'));
  }
}

// showPreview shows the head of artifact a, its row tr (if any) selected.
export async function showPreview(view, a, tr) {
  for (const row of $$('#artifacts tr.selected')) row.classList.remove('selected');
  if (tr) tr.classList.add('selected');
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
