// gate.js: approval gates without the DOM: what a gate's DAG node says, how a decision
// reads, and whether the signed-in user is among a gate's approvers. The user API decides
// who may (RBAC create on runs/approve, then the approvers); the console only leaves out
// buttons the API would surely refuse, and shows its refusal otherwise.

// isGate reports an approval gate: a step the frozen spec gives a gate, or one that waits
// (only gates wait; before the spec is read there is no gate to look at).
export const isGate = (st) => !!(st && (st.gate || st.phase === 'Waiting'));

const SA = 'system:serviceaccount:';

// shortUser is a user name short enough for a DAG node: a ServiceAccount by its name.
export function shortUser(name) {
  if (!name) return '';
  return name.startsWith(SA) ? name.slice(SA.length).split(':').pop() : name;
}

// decisionText reads a decision: "approved by alice", "rejected on timeout" (short: the
// user as shortUser has it).
export function decisionText(a, short) {
  if (!a) return '';
  const verb = a.decision === 'Approved' ? 'approved' : 'rejected';
  if (a.timedOut) return `${verb} on timeout`;
  return a.by ? `${verb} by ${short ? shortUser(a.by) : a.by}` : verb;
}

// gateLabel is a gate's line in the DAG ('' for another step): "waiting for approval"
// while it waits, its decision once made, else that it is a gate and its phase.
export function gateLabel(st) {
  if (!isGate(st)) return '';
  if (st.phase === 'Waiting') return 'waiting for approval';
  if (st.approval) return decisionText(st.approval, true);
  return `approval gate · ${st.phase}`;
}

// gateMessage is what the gate asks its approvers: the gate's message, else the one the
// waiting step's status carries ("waiting for approval: <message>").
export function gateMessage(st) {
  if (st.gate && st.gate.message) return st.gate.message;
  const prefix = 'waiting for approval: ';
  return st.message && st.message.startsWith(prefix) ? st.message.slice(prefix.length) : '';
}

// approversText names a gate's approvers ('' when it names none: anyone RBAC lets decide).
export function approversText(gate) {
  return ((gate && gate.approvers) || []).map((a) => `${a.kind} ${a.name}`).join(', ');
}

// amongApprovers is false only when the gate names approvers and who (whoami: user and
// groups) is none of them; RBAC stays the API's to check.
export function amongApprovers(gate, who) {
  const list = (gate && gate.approvers) || [];
  if (!list.length || !who) return true;
  const groups = who.groups || [];
  return list.some((a) => (a.kind === 'User' && a.name === who.user) || (a.kind === 'Group' && groups.includes(a.name)));
}
