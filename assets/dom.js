/* DOM helpers, the one way customer content reaches the page.
 *
 * Safety rule for every module: customer content (names, texts, file names, URLs)
 * only ever reaches the page through textContent, createElement and setAttribute (h()
 * and svgEl() below); no string is ever parsed as HTML. URLs from data pass safeUrl()
 * before they land on href/src, so a `javascript:` link or a `data:` image cannot come
 * from a webhook.
 */

export const $ = (id) => document.getElementById(id);

/** Only http(s) URLs and our own API paths may come from data. */
export function safeUrl(u) {
  return typeof u === 'string' && /^(https:\/\/|http:\/\/|\/api\/)/i.test(u) ? u : null;
}

/** createElement with properties; string children become text nodes. */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === 'href' || k === 'src') {
      const u = safeUrl(v);
      if (u) el.setAttribute(k, u);
    } else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c != null && c !== false) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
export function svgEl(tag, attrs) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

/** Places `nodes` as the children of `parent`, moving only what is out of place
 * (moving a node that plays audio or has focus would interrupt it). */
export function reconcile(parent, nodes) {
  let cur = parent.firstChild;
  for (const n of nodes) {
    if (n === cur) { cur = cur.nextSibling; continue; }
    parent.insertBefore(n, cur);
  }
  while (cur) { const next = cur.nextSibling; cur.remove(); cur = next; }
}
