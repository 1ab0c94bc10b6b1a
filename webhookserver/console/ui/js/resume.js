// resume.js: resuming a run, without the DOM: whether a run can be resumed and how a
// cached step reads. A resume (POST …/runs/{run}/resume) reruns a Failed or Canceled run:
// the steps that Succeeded in it take its outputs (their status names the attempt,
// `cachedFrom`) and the others run. The step cache marks its hits the same way.

// canResume reports a run the API would resume: one that Failed or was Canceled. A running
// run has nothing to resume yet, and one that Succeeded (or was Rejected) nothing at all.
export const canResume = (r) => !!r && (r.phase === 'Failed' || r.phase === 'Canceled');

// isCached reports a step that took an earlier attempt's outputs instead of running.
export const isCached = (st) => !!(st && st.cachedFrom);

// cachedText says where a cached step's outputs come from: "cached from r1/parse", with the
// attempt when it was not the first ('' for a step that ran).
export function cachedText(st) {
  if (!isCached(st)) return '';
  const c = st.cachedFrom;
  return `cached from ${c.run}/${c.step}${c.attempt > 1 ? ` (attempt ${c.attempt})` : ''}`;
}

// cachedMessage is a step's message, led for a cached step by cachedText unless the
// message says so already (the step cache writes "cached from …" itself).
export function cachedMessage(st) {
  const msg = (st && st.message) || '';
  if (!isCached(st) || msg.startsWith('cached from ')) return msg;
  return msg ? `${cachedText(st)}; ${msg}` : cachedText(st);
}
