// notice.js: telling the user: the passing flash line and a page's error box.
import { $, clear, h } from './dom.js';

let flashTimer = null;
export function flash(msg, isError) {
  const el = $('#flash');
  el.textContent = msg;
  el.className = isError ? 'error' : '';
  el.hidden = false;
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => { el.hidden = true; }, isError ? 10000 : 4000);
}

export function showError(main, err) {
  if (err && err.name === 'AbortError') return;
  if (err && err.status === 401) return; // the login form is shown already
  clear(main).append(h('div', { class: 'error-box', id: 'page-error', role: 'alert' },
    err && err.status === 403 ? 'Forbidden: ' : '', err ? err.message : 'error'));
}
