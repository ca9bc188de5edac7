/* Short notices in the corner. */
import { $, h } from './dom.js';

export function toast(message, kind = 'error') {
  const box = $('toasts');
  for (const t of box.children) if (t.dataset.msg === message) return; // no stacks of the same error
  const el = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, h('span', null, message),
    h('button', { type: 'button', class: 'toast-x', 'aria-label': 'Dismiss', on: { click: () => el.remove() } }, '×'));
  el.dataset.msg = message;
  box.append(el);
  setTimeout(() => el.remove(), kind === 'error' ? 8000 : 4000);
}
export const failed = (what) => (e) => { if (e && e.status !== 401) toast(`${what}: ${e.message || e}`); };
