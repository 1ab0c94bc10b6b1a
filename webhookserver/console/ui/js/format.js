// format.js: how times, durations, sizes, digests and run phases read on screen.

export const RUN_PHASES = ['Pending', 'Queued', 'Running', 'Waiting', 'Succeeded', 'Failed', 'Canceled', 'Rejected'];
const FINISHED = new Set(['Succeeded', 'Failed', 'Canceled', 'Rejected']);

export const pad = (n, w = 2) => String(n).padStart(w, '0');
export function fmtTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (isNaN(d)) return iso;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
export function fmtClock(iso) {
  const d = new Date(iso);
  return isNaN(d) ? '' : `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}
export function fmtDuration(sec) {
  if (sec === null || sec === undefined || isNaN(sec)) return '';
  if (sec === 0) return '<1s'; // Kubernetes timestamps have whole seconds
  if (sec < 1) return `${Math.round(sec * 1000)}ms`;
  if (sec < 60) return `${sec.toFixed(1)}s`;
  const m = Math.floor(sec / 60);
  if (m < 60) return `${m}m ${Math.floor(sec % 60)}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}
// stepSeconds is what a step's duration column shows: the command's own run time as
// step-run measured it (milliseconds) for a single attempt, else the step's span from the
// status (whole seconds, across retries and their backoff).
export function stepSeconds(st) {
  if (st.runSeconds !== undefined && st.runSeconds !== null && (st.attempts || 0) <= 1) return st.runSeconds;
  return st.durationSeconds;
}
export function fmtBytes(n) {
  if (n === null || n === undefined) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}
export const shortDigest = (d) => (d ? d.replace(/^sha256:/, '').slice(0, 12) : '');
const secondsBetween = (a, b) => (new Date(b) - new Date(a)) / 1000;
// runDuration is the finished duration, or the time so far for a started run.
export function runDuration(r) {
  if (r.durationSeconds !== undefined && r.durationSeconds !== null) return fmtDuration(r.durationSeconds);
  // Clamped: the browser's clock may run behind the cluster's.
  if (r.startedAt && !r.finishedAt && !FINISHED.has(r.phase)) return `${fmtDuration(Math.max(0, secondsBetween(r.startedAt, new Date())))}…`;
  if (r.startedAt && r.finishedAt) return fmtDuration(secondsBetween(r.startedAt, r.finishedAt));
  return '';
}
export const isFinished = (r) => FINISHED.has(r.phase) || !!r.finishedAt;
