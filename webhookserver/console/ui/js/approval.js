// approval.js: the run page's approval gates. A waiting gate shows what it asks, who may
// decide and until when, a comment box and Approve / Reject; a decided one who decided,
// when and the comment. The buttons show for every waiting gate whose approvers include
// the user (or that names none): whether RBAC lets the user decide is the API's to say,
// and its refusal (403) is shown in its own words.
import { api, nsAPI } from './api.js';
import { badge, clear, h } from './dom.js';
import { fmtTime } from './format.js';
import { amongApprovers, approversText, decisionText, gateMessage, isGate } from './gate.js';
import { flash } from './notice.js';
import { state } from './state.js';

const capital = (s) => (s ? s[0].toUpperCase() + s.slice(1) : s);

// drawGates redraws the section only when a gate changed, so a comment being typed
// survives the page's polling (and a redraw keeps it: view.comments).
export function drawGates(view) {
  const sec = view.gates;
  const gates = (view.run.steps || []).filter(isGate);
  const key = JSON.stringify([gates.map((st) => [st.name, st.phase, st.message, st.gate, st.approval]), view.sent]);
  if (view.keys.gates === key) return;
  view.keys.gates = key;
  clear(sec);
  sec.hidden = !gates.length;
  if (sec.hidden) return;
  sec.append(h('h2', {}, gates.length === 1 ? 'Approval' : 'Approvals'), ...gates.map((st) => drawGate(view, st)));
}

// focusGate brings a gate's box into view (a click on its DAG node): a gate has no logs.
export function focusGate(view, name) {
  const box = Array.from(view.gates.querySelectorAll('.gate')).find((el) => el.dataset.step === name);
  if (!box) return;
  box.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  const input = box.querySelector('textarea');
  if (input) input.focus({ preventScroll: true });
}

function drawGate(view, st) {
  const g = st.gate || {};
  const box = h('div', { class: `gate phase-${st.phase}`, dataset: { step: st.name, phase: st.phase } },
    h('h3', {}, h('code', {}, st.name), ' ', badge(st.phase)));
  const question = gateMessage(st);
  if (question) box.append(h('p', { class: 'gate-message' }, question));
  // What the API answered stands in for the status until the Run controller applied it.
  const decided = st.approval || view.sent[st.name];
  if (decided) {
    box.append(h('p', { class: 'gate-decision', dataset: { decision: decided.decision } },
      `${capital(decisionText(decided))} at ${fmtTime(decided.time)}`, st.approval ? '.' : ' — the run takes it up in a moment.'));
    if (decided.comment) box.append(h('blockquote', { class: 'gate-comment' }, decided.comment));
    return box;
  }
  const who = approversText(g);
  box.append(h('p', { class: 'muted gate-approvers' },
    who ? `Approvers: ${who}.` : `Anyone who may approve runs in ${view.ns} decides.`,
    st.phase === 'Waiting' && g.deadline
      ? ` Without a decision by ${fmtTime(g.deadline)} it is ${g.onTimeout === 'Approve' ? 'approved' : 'rejected'}.` : ''));
  if (st.phase !== 'Waiting') {
    box.append(h('p', { class: 'muted gate-state' },
      st.phase === 'Pending' ? 'It asks for a decision once the steps before it are done.' : (st.message || '')));
    return box;
  }
  if (!amongApprovers(g, state.user)) {
    box.append(h('p', { class: 'muted gate-not-yours' }, `You (${state.user.user}) are not among its approvers.`));
    return box;
  }
  const comment = h('textarea', { class: 'gate-comment-input', rows: 2, maxlength: 1024,
    placeholder: 'Comment (optional; kept with the decision)', 'aria-label': `Comment on ${st.name}` });
  comment.value = view.comments[st.name] || '';
  comment.addEventListener('input', () => { view.comments[st.name] = comment.value; });
  const error = h('p', { class: 'error gate-error', role: 'alert', hidden: true });
  const approve = h('button', { type: 'button', class: 'approve' }, 'Approve');
  const reject = h('button', { type: 'button', class: 'danger reject' }, 'Reject');
  async function send(verb) {
    approve.disabled = reject.disabled = true;
    error.hidden = true;
    try {
      const d = await api(nsAPI(view.ns, 'runs', view.name, 'steps', st.name, verb), {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ comment: comment.value }),
      });
      view.sent[st.name] = d;
      delete view.comments[st.name];
      flash(`Step ${st.name}: ${decisionText(d)}.`);
      drawGates(view);
      if (view.reload) view.reload();
    } catch (e) {
      if (e.status === 401) return;
      error.textContent = e.status === 403 ? `Forbidden: ${e.message}` : e.message;
      error.hidden = false;
      approve.disabled = reject.disabled = false;
      if (e.reason === 'AlreadyDecided' && view.reload) view.reload();
    }
  }
  approve.addEventListener('click', () => send('approve'));
  reject.addEventListener('click', () => send('reject'));
  box.append(comment, h('div', { class: 'actions' }, approve, reject), error);
  return box;
}
