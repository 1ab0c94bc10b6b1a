// routes.js: the console's hash routes, #/ns/<namespace>/<section>/<name>?<filters>.

export const enc = encodeURIComponent;
export const route = (ns, ...parts) => `#/ns/${enc(ns)}${parts.map((p) => '/' + enc(p)).join('')}`;

export function parseHash() {
  const raw = location.hash.replace(/^#/, '');
  const qi = raw.indexOf('?');
  const path = qi < 0 ? raw : raw.slice(0, qi);
  const query = new URLSearchParams(qi < 0 ? '' : raw.slice(qi + 1));
  let parts;
  try { parts = path.split('/').filter(Boolean).map(decodeURIComponent); } catch { parts = []; }
  return { parts, query };
}
