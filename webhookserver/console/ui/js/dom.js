// dom.js: building and finding elements safely. h and s put every value in as a text node
// or an attribute value, never as markup, so server data cannot become HTML.
import { fmtTime } from './format.js';

const SVG_NS = 'http://www.w3.org/2000/svg';

// h builds an element. attrs: class, dataset (object), on<event> (function), anything else
// becomes an attribute. Children: strings become text nodes; null/false are skipped.
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}
function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}
export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}
export const $ = (sel, root) => (root || document).querySelector(sel);
export const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
export function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

export function badge(phase, cls) {
  return h('span', { class: `badge ${cls || 'phase-' + phase}`, dataset: { phase: phase || '' } }, phase || '—');
}
export function timeCell(iso) {
  return h('td', { title: iso || '' }, fmtTime(iso));
}
