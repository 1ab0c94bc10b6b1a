// items.js: the items of a forEach step, without the DOM: the name each goes by, what its
// DAG node says, and which item a click on the step opens. An item's attempts go by
// `<step>.<index>` in the logs and artifacts routes, exactly like a step's.

// fannedOut reports a forEach step whose list was evaluated.
export const fannedOut = (st) => !!(st && st.itemTotal);

// stepOfName is the step a logs or artifacts name belongs to: `square` for the item
// `square.3` (step names have no dots), the name itself for a step.
export function stepOfName(name) {
  const dot = name.indexOf('.');
  return dot < 0 ? name : name.slice(0, dot);
}

// findUnit is the step or the item that name names (undefined when the run has neither).
export function findUnit(steps, name) {
  const st = (steps || []).find((x) => x.name === stepOfName(name));
  if (!st || st.name === name) return st;
  return (st.items || []).find((it) => it.name === name);
}

// itemIndex orders names item by item: 2 for `square.2`, -1 for a step.
export function itemIndex(name) {
  const dot = name.indexOf('.');
  return dot < 0 ? -1 : Number(name.slice(dot + 1));
}

const count = (st, phase) => (st.itemCounts && st.itemCounts[phase]) || 0;

// itemsLabel is a fanned-out step's line in the DAG: items in flight while there are any
// ("3/12 running · 1 failed"), else how many succeeded ("11/12 succeeded · 1 failed").
// Retrying items count as running: they hold a parallelism slot.
export function itemsLabel(st) {
  if (!fannedOut(st)) return '';
  const total = st.itemTotal;
  const inFlight = count(st, 'Running') + count(st, 'Retrying');
  const parts = [inFlight ? `${inFlight}/${total} running` : `${count(st, 'Succeeded')}/${total} succeeded`];
  if (count(st, 'Failed')) parts.push(`${count(st, 'Failed')} failed`);
  return parts.join(' · ');
}

const ORDER = ['Succeeded', 'Running', 'Retrying', 'Pending', 'Failed', 'Canceled', 'Skipped'];

// itemsSummary reads every count out, for the node's tooltip and the items heading:
// "12 items: 8 succeeded, 3 running, 1 failed".
export function itemsSummary(st) {
  if (!fannedOut(st)) return '';
  const counts = st.itemCounts || {};
  const phases = ORDER.concat(Object.keys(counts).filter((p) => !ORDER.includes(p)).sort());
  const parts = phases.filter((p) => counts[p] > 0).map((p) => `${counts[p]} ${p.toLowerCase()}`);
  return `${st.itemTotal} ${st.itemTotal === 1 ? 'item' : 'items'}: ${parts.join(', ')}`;
}

// firstItem is the item a click on a fanned-out step opens the logs of: the first that
// failed, else the first in flight, else the first that ran at all (undefined: none ran).
export function firstItem(st) {
  const items = (st && st.items) || [];
  return items.find((it) => it.phase === 'Failed')
    || items.find((it) => it.phase === 'Running' || it.phase === 'Retrying')
    || items.find((it) => it.attempts > 0);
}
