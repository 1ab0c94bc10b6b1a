// startrun.js: the "Run" form of a workflow, generated from its declared params (enums as
// selects, defaults filled in, required ones marked). Submitting starts a manual Run
// (POST …/workflows/{wf}/runs) and moves to its page. The form's Idempotency-Key is made
// once per opening, so a double click or a retried submit starts one Run.
import { api, nsAPI, randomKey } from './api.js';
import { h } from './dom.js';
import { route } from './routes.js';

export function startRunForm(ns, wf, onClose) {
  const key = randomKey();
  const fields = (wf.params || []).map((p) => {
    const id = `param-${p.name}`;
    const control = p.enum && p.enum.length
      ? h('select', { id, name: p.name }, p.enum.map((v) => h('option', { value: v, selected: v === p.default }, v)))
      : h('input', { id, name: p.name, type: 'text', value: p.default ?? '', required: p.required, maxlength: 4096 });
    return h('label', { for: id, class: 'param' },
      h('span', { class: 'param-name' }, p.name, p.required ? h('span', { class: 'required', title: 'required' }, ' *') : null),
      control,
      p.description ? h('span', { class: 'muted' }, p.description) : null);
  });
  const error = h('p', { class: 'error', id: 'start-run-error', hidden: true });
  const submit = h('button', { type: 'submit', id: 'start-run-submit' }, 'Start run');
  const form = h('form', { id: 'start-run', dataset: { workflow: wf.name } },
    h('h2', {}, `Run ${wf.name}`),
    fields.length ? fields : h('p', { class: 'muted' }, 'This workflow declares no parameters.'),
    h('div', { class: 'actions' }, submit, h('button', { type: 'button', class: 'secondary', onclick: onClose }, 'Close')),
    error);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    submit.disabled = true;
    error.hidden = true;
    const params = {};
    for (const p of wf.params || []) params[p.name] = form.elements[p.name].value;
    try {
      const ref = await api(nsAPI(ns, 'workflows', wf.name, 'runs'), {
        method: 'POST', headers: { 'Idempotency-Key': key, 'Content-Type': 'application/json' }, body: JSON.stringify({ params }),
      });
      location.hash = route(ns, 'runs', ref.run);
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
      submit.disabled = false;
    }
  });
  return form;
}
