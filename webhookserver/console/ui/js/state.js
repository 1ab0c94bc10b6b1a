// state.js: what the app knows across views, and the lifetime of the current view.

export const REFRESH_MS = 3000;

export const state = {
  user: null,
  namespaces: [],
  ns: '',
  // page is the token of the current view: timers and streams hang on it, and async work
  // checks it so that a late answer never renders into a view the user has left.
  page: null,
  runPages: { key: '', stack: [''] }, // continue tokens of the runs list, per filter set
  names: {}, // ns -> {workflows, endpoints} for the filter suggestions
};

export function newPage() {
  if (state.page) state.page.close();
  const page = {
    timers: [], sources: [], controllers: [], closed: false,
    every(ms, fn) { this.timers.push(setInterval(fn, ms)); },
    source(es) { this.sources.push(es); return es; },
    signal() { const c = new AbortController(); this.controllers.push(c); return c.signal; },
    close() {
      this.closed = true;
      this.timers.forEach(clearInterval);
      this.sources.forEach((es) => es.close());
      this.controllers.forEach((c) => c.abort());
    },
  };
  state.page = page;
  return page;
}
