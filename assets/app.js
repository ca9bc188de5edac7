/* HelpStack dashboard: plain DOM, no framework, no build step.
 *
 * Safety rule for the whole file: customer content (names, texts, file names, URLs)
 * only ever reaches the page through textContent, createElement and setAttribute;
 * there is no innerHTML anywhere. URLs from data pass safeUrl() before they land
 * on href/src, so a `javascript:` link or a `data:` image cannot come from a webhook.
 */
'use strict';

// ---------------------------------------------------------------- DOM helpers

const $ = (id) => document.getElementById(id);

/** Only http(s) URLs and our own API paths may come from data. */
function safeUrl(u) {
  return typeof u === 'string' && /^(https:\/\/|http:\/\/|\/api\/)/i.test(u) ? u : null;
}

/** createElement with properties; string children become text nodes. */
function h(tag, props, ...children) {
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
function svgEl(tag, attrs) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

/** Places `nodes` as the children of `parent`, moving only what is out of place
 * (moving a node that plays audio or has focus would interrupt it). */
function reconcile(parent, nodes) {
  let cur = parent.firstChild;
  for (const n of nodes) {
    if (n === cur) { cur = cur.nextSibling; continue; }
    parent.insertBefore(n, cur);
  }
  while (cur) { const next = cur.nextSibling; cur.remove(); cur = next; }
}

// ---------------------------------------------------------------- provider icons

const PROVIDERS = {
  facebook: {
    label: 'Messenger',
    parts: [
      ['path', { d: 'M12 2C6.36 2 2 6.13 2 11.7c0 2.91 1.19 5.43 3.14 7.17.16.15.26.35.27.57l.05 1.78a.8.8 0 0 0 1.12.7l1.98-.87a.8.8 0 0 1 .53-.04c.91.25 1.88.39 2.91.39 5.64 0 10-4.13 10-9.7S17.64 2 12 2z', fill: '#0a66ff' }],
      ['path', { d: 'M6 14.54l2.94-4.66a1.5 1.5 0 0 1 2.17-.4l2.34 1.75a.6.6 0 0 0 .72 0l3.16-2.4c.42-.32.97.18.69.63l-2.94 4.66a1.5 1.5 0 0 1-2.17.4l-2.34-1.75a.6.6 0 0 0-.72 0l-3.16 2.4c-.42.32-.97-.18-.69-.63z', fill: '#fff' }],
    ],
  },
  instagram: {
    label: 'Instagram',
    parts: [
      ['rect', { x: '2', y: '2', width: '20', height: '20', rx: '6', fill: '#d6246e' }],
      ['rect', { x: '6', y: '6', width: '12', height: '12', rx: '3.6', fill: 'none', stroke: '#fff', 'stroke-width': '1.8' }],
      ['circle', { cx: '12', cy: '12', r: '2.9', fill: 'none', stroke: '#fff', 'stroke-width': '1.8' }],
      ['circle', { cx: '15.6', cy: '8.4', r: '.95', fill: '#fff' }],
    ],
  },
  whatsapp: {
    label: 'WhatsApp',
    parts: [
      ['path', { d: 'M12 2a10 10 0 0 0-8.66 15l-1.3 4.74 4.86-1.27A10 10 0 1 0 12 2z', fill: '#1fa855' }],
      ['path', { d: 'M8.7 7.3c.2-.44.4-.45.6-.46h.5c.17 0 .43.06.66.54l.82 1.95c.07.16.1.35 0 .55l-.38.62c-.1.16-.2.34-.05.6.42.72 1 1.37 1.6 1.9.72.63 1.33.84 1.6.96.2.09.4.07.53-.08l.74-.88c.17-.22.34-.18.57-.1l1.85.9c.24.12.4.18.45.28.06.16.06.9-.25 1.43-.3.53-1.3 1.04-1.77 1.08-.46.04-.9.2-3.03-.65-2.56-1-4.17-3.62-4.3-3.8-.12-.16-1.03-1.37-1.03-2.6 0-1.25.66-1.86.9-2.12z', fill: '#fff' }],
    ],
  },
};

function providerIcon(provider, size = 16) {
  const p = PROVIDERS[provider];
  const s = svgEl('svg', { viewBox: '0 0 24 24', width: String(size), height: String(size), class: 'picon', role: 'img' });
  if (!p) {
    s.append(svgEl('circle', { cx: '12', cy: '12', r: '10', fill: '#8a93a2' }));
    return s;
  }
  const title = svgEl('title', {});
  title.textContent = p.label;
  s.append(title);
  for (const [tag, attrs] of p.parts) s.append(svgEl(tag, attrs));
  return s;
}

/** Small UI glyphs as SVG: emoji fonts are missing on many Linux desktops. */
const GLYPHS = {
  pin: 'M12 2a7 7 0 0 0-7 7c0 5.2 7 13 7 13s7-7.8 7-13a7 7 0 0 0-7-7zm0 9.6a2.6 2.6 0 1 1 0-5.2 2.6 2.6 0 0 1 0 5.2z',
  file: 'M6 2h8l6 6v12a2 2 0 0 1-2 2H6a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2zm7 1.5V9h5.5z',
  chat: 'M4 3h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z',
};
function glyph(name, size = 16) {
  const s = svgEl('svg', { viewBox: '0 0 24 24', width: String(size), height: String(size), class: 'glyph', 'aria-hidden': 'true' });
  s.append(svgEl('path', { d: GLYPHS[name], fill: 'currentColor' }));
  return s;
}

const providerLabel = (p) => (PROVIDERS[p] ? PROVIDERS[p].label : String(p || 'Channel'));

// ---------------------------------------------------------------- formatting

function displayName(c) {
  if (!c) return 'Unknown';
  return c.name || (c.username ? '@' + c.username : null) || (c.phone ? '+' + String(c.phone).replace(/^\+/, '') : null) || c.external_id || 'Unknown';
}

function initials(name) {
  const words = String(name).replace(/^[@+]/, '').trim().split(/\s+/).filter(Boolean);
  if (!words.length || /^\d/.test(words[0])) return '#';
  return (words[0][0] + (words.length > 1 ? words[words.length - 1][0] : '')).toUpperCase();
}

function avatar(contact, extra) {
  const id = Number(contact && contact.id) || 0;
  const el = h('span', { class: `avatar av-${id % 8} ${extra || ''}`, 'aria-hidden': 'true' }, initials(displayName(contact)));
  const url = safeUrl(contact && contact.avatar_url);
  if (url) {
    // The initials stay underneath: a missing or expired picture simply disappears.
    const img = h('img', { src: url, alt: '', loading: 'lazy', decoding: 'async' });
    img.addEventListener('error', () => img.remove());
    el.append(img);
  }
  return el;
}

const ms = (iso) => { const t = Date.parse(iso); return Number.isFinite(t) ? t : 0; };
const DAY = 86400e3;
const weekday = new Intl.DateTimeFormat(undefined, { weekday: 'short' });
const dayMonth = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const dayMonthYear = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', year: 'numeric' });
const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const full = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'short' });

/** "now", "2m", "3h", "Mon", "12 Mar", "12 Mar 2024". */
function relTime(iso) {
  const t = ms(iso);
  if (!t) return '';
  const d = Date.now() - t;
  if (d < 60e3) return 'now';
  if (d < 3600e3) return Math.floor(d / 60e3) + 'm';
  if (d < DAY) return Math.floor(d / 3600e3) + 'h';
  if (d < 6 * DAY) return weekday.format(t);
  return new Date(t).getFullYear() === new Date().getFullYear() ? dayMonth.format(t) : dayMonthYear.format(t);
}

function timeEl(iso, mode) {
  const t = ms(iso);
  const el = h('time', { datetime: iso || '', title: t ? full.format(t) : null });
  if (mode === 'rel') { el.dataset.rel = '1'; el.textContent = relTime(iso); } else el.textContent = t ? clock.format(t) : '';
  return el;
}

function dayLabel(t) {
  const start = new Date(); start.setHours(0, 0, 0, 0);
  if (t >= start.getTime()) return 'Today';
  if (t >= start.getTime() - DAY) return 'Yesterday';
  return new Date(t).getFullYear() === start.getFullYear()
    ? new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long' }).format(t)
    : dayMonthYear.format(t);
}

function fmtSize(n) {
  if (!Number.isFinite(n) || n < 0) return '';
  if (n < 1024) return n + ' B';
  if (n < 1024 * 1024) return (n / 1024).toFixed(n < 10240 ? 1 : 0) + ' KB';
  return (n / 1048576).toFixed(1) + ' MB';
}

// ---------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

/** Same-origin JSON fetch. A 401 outside the login calls means the session ended. */
async function api(path, { method = 'GET', body, expect401 = false } = {}) {
  const opts = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) { opts.headers['Content-Type'] = 'application/json'; opts.body = JSON.stringify(body); }
  let res;
  try { res = await fetch(path, opts); } catch (e) { throw new ApiError(0, 'network', 'Cannot reach the server'); }
  let data = null;
  try { data = await res.json(); } catch (e) { /* empty or non-JSON body */ }
  if (!res.ok) {
    if (res.status === 401 && !expect401 && S.user) sessionEnded();
    throw new ApiError(res.status, data && data.code, (data && data.error) || `${res.status} ${res.statusText}`);
  }
  return data;
}

// ---------------------------------------------------------------- toasts

function toast(message, kind = 'error') {
  const box = $('toasts');
  for (const t of box.children) if (t.dataset.msg === message) return; // no stacks of the same error
  const el = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, h('span', null, message),
    h('button', { type: 'button', class: 'toast-x', 'aria-label': 'Dismiss', on: { click: () => el.remove() } }, '×'));
  el.dataset.msg = message;
  box.append(el);
  setTimeout(() => el.remove(), kind === 'error' ? 8000 : 4000);
}
const failed = (what) => (e) => { if (e && e.status !== 401) toast(`${what}: ${e.message || e}`); };

// ---------------------------------------------------------------- state

const S = {
  user: null,
  status: null,
  channels: [],
  filter: { channel: '', status: 'open', q: '' },
  convs: new Map(), // id -> conversation (only those matching the filter)
  order: [], // conversation ids, newest activity first
  rows: new Map(), // id -> <li>
  next: null,
  listGen: 0, // bumps on every reset so stale pages are dropped
  loadingMore: false,
  listLoaded: false,
  openId: null,
  openConv: null,
  threadGen: 0,
  threadLoading: false,
  pending: [], // live messages for the open thread that arrived while it loaded
  pendingAtt: [], // live attachment updates that arrived while it loaded
  msgs: new Map(), // id -> message of the open thread
  nodes: new Map(), // id -> message element
  days: new Map(), // day key -> separator element
  stick: true, // keep the thread scrolled to the bottom
  lastSeq: null,
  refreshStarted: false,
  channelSig: null, // channels as last rendered in the filter
};

// ---------------------------------------------------------------- login / session

async function boot() {
  wireStatic();
  try {
    const me = await api('/api/session', { expect401: true });
    startApp(me.username);
  } catch (e) {
    showLogin(e.status === 401 ? null : 'Cannot reach the server. Retry in a moment.');
  }
}

function showLogin(message) {
  $('boot').hidden = true;
  $('app').hidden = true;
  $('login').hidden = false;
  const err = $('login-error');
  err.hidden = !message;
  err.textContent = message || '';
  $('login-user').focus();
}

async function onLogin(ev) {
  ev.preventDefault();
  const btn = $('login-submit'), err = $('login-error');
  const username = $('login-user').value.trim(), password = $('login-pass').value;
  if (!username || !password) { err.textContent = 'Enter your username and password.'; err.hidden = false; return; }
  btn.disabled = true;
  btn.textContent = 'Signing in…';
  err.hidden = true;
  try {
    const r = await api('/api/session', { method: 'POST', body: { username, password }, expect401: true });
    $('login-pass').value = '';
    startApp(r && r.username ? r.username : username);
  } catch (e) {
    err.textContent = e.status === 429 ? 'Too many attempts. Wait a minute, then try again.'
      : e.status === 401 ? 'Wrong username or password.'
      : e.status === 0 ? 'Cannot reach the server.' : e.message;
    err.hidden = false;
    $('login-pass').select();
  } finally {
    btn.disabled = false;
    btn.textContent = 'Sign in';
  }
}

function startApp(username) {
  S.user = username;
  $('whoami').textContent = username;
  $('boot').hidden = true;
  $('login').hidden = true;
  $('app').hidden = false;
  renderPlaceholder();
  connectLive();
  // The first load waits briefly for the socket's hello, so nothing published between
  // the load and the subscription is missed; if live updates are unavailable, load anyway.
  setTimeout(() => { if (!S.refreshStarted) fullRefresh().catch(failed('Loading the inbox failed')); }, 2500);
  const m = /^#c\/(\d+)$/.exec(location.hash);
  if (m) openConversation(Number(m[1]));
}

/** Logged out here or elsewhere (expired, password changed): back to the login form. */
function sessionEnded(message = 'Your session ended. Sign in again.') {
  S.user = null;
  stopLive();
  S.convs.clear(); S.order = []; S.rows.clear(); S.msgs.clear(); S.nodes.clear(); S.days.clear();
  S.openId = null; S.openConv = null; S.lastSeq = null; S.refreshStarted = false; S.listLoaded = false; S.channelSig = null;
  $('conv-list').replaceChildren();
  $('messages').replaceChildren();
  $('banners').replaceChildren();
  history.replaceState(null, '', location.pathname);
  showLogin(message);
}

async function logout() {
  try { await api('/api/session', { method: 'DELETE', expect401: true }); } catch (e) { /* gone anyway */ }
  sessionEnded('');
}

// ---------------------------------------------------------------- change password

function openPasswordDialog() {
  $('pw-form').reset();
  $('pw-error').hidden = true;
  $('pw-dialog').showModal();
  $('pw-current').focus();
}

async function onChangePassword(ev) {
  ev.preventDefault();
  const err = $('pw-error'), btn = $('pw-submit');
  const current = $('pw-current').value, next = $('pw-new').value, confirm = $('pw-confirm').value;
  const show = (m) => { err.textContent = m; err.hidden = false; };
  if (!current || !next) return show('Fill in all fields.');
  if (next !== confirm) return show('The new passwords do not match.');
  btn.disabled = true;
  try {
    await api('/api/session/password', { method: 'POST', body: { current, new: next }, expect401: true });
    $('pw-dialog').close();
    toast('Password changed.', 'ok');
  } catch (e) {
    show(e.status === 401 ? 'The current password is wrong.' : e.message);
  } finally {
    btn.disabled = false;
  }
}

// ---------------------------------------------------------------- status, channels, banners

async function loadStatusAndChannels() {
  const [status, ch] = await Promise.all([api('/api/status'), api('/api/channels')]);
  S.status = status;
  if (status && status.version) $('whoami').title = `Signed in · HelpStack ${status.version}`;
  S.channels = (ch && ch.channels) || [];
  // Rebuilding the options would close the dropdown under the agent's pointer.
  const sig = JSON.stringify(S.channels.map((c) => [c.id, c.provider, c.name]));
  if (sig !== S.channelSig) { S.channelSig = sig; renderChannelFilter(); }
  renderBanners();
  renderPlaceholder();
}

function renderChannelFilter() {
  const sel = $('filter-channel');
  const keep = sel.value;
  const opts = [h('option', { value: '' }, 'All channels')];
  for (const c of S.channels) opts.push(h('option', { value: String(c.id) }, `${providerLabel(c.provider)} · ${c.name || c.external_id}`));
  sel.replaceChildren(...opts);
  sel.value = S.channels.some((c) => String(c.id) === keep) ? keep : '';
  if (sel.value !== S.filter.channel) { S.filter.channel = sel.value; loadConversations(true).catch(failed('Loading conversations failed')); }
}

function renderBanners() {
  const out = [];
  const st = S.status || {};
  if (st.app_secret_configured === false) {
    out.push(banner('warn', 'Webhooks are rejected until an app secret is configured.',
      'Set app_secret in the config file (or HELPSTACK_APP_SECRET) to your Meta App Secret and restart.'));
  }
  if (st.verify_token_configured === false) {
    out.push(banner('warn', 'No webhook verify token is configured: Meta cannot verify the callback URLs.', null));
  }
  for (const c of S.channels) {
    if (c.token_status === 'token_invalid') {
      out.push(banner('error', `Meta rejected the access token of ${c.name || c.external_id}: run helpstack rotate channel-token ${c.id} --value NEW_TOKEN on the server.`,
        c.token_error ? `Meta said: ${c.token_error}. Messages keep arriving; names, pictures and media may not.` : 'Messages keep arriving; names, pictures and media may not.'));
    }
  }
  $('banners').replaceChildren(...out);
}

function banner(kind, title, detail) {
  return h('div', { class: `banner ${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    h('span', { class: 'banner-icon', 'aria-hidden': 'true' }, kind === 'error' ? '!' : 'i'),
    h('div', null, h('strong', null, title), detail ? h('div', { class: 'banner-detail' }, detail) : null));
}

/** What the thread pane shows when no conversation is open. */
function renderPlaceholder() {
  const box = $('thread-placeholder');
  if (S.openId != null) { box.hidden = true; return; }
  box.hidden = false;
  const noChannels = !!S.status && S.channels.length === 0;
  document.body.classList.toggle('no-channels', noChannels);
  if (noChannels) { box.replaceChildren(setupCard()); return; }
  box.replaceChildren(h('div', { class: 'placeholder-inner' },
    h('div', { class: 'placeholder-art' }, glyph('chat', 40)),
    h('p', null, 'Select a conversation to read it.'),
    h('p', { class: 'muted small' }, 'Shortcuts: / search · j / k next and previous conversation')));
}

function setupCard() {
  const urls = (S.status && S.status.callback_urls) || {};
  const rows = ['facebook', 'instagram', 'whatsapp'].map((p) => h('div', { class: 'url-row' },
    providerIcon(p, 18), h('span', { class: 'url-label' }, providerLabel(p)),
    h('code', { class: 'url' }, urls[p] || `/api/webhooks/${p}`),
    h('button', { type: 'button', class: 'btn small ghost', on: { click: () => copy(urls[p]) } }, 'Copy')));
  return h('div', { class: 'card setup' },
    h('h2', null, 'Connect your first channel'),
    h('p', null, 'No channels yet. In the Meta App dashboard open each product → Webhooks and register:'),
    h('div', { class: 'urls' }, rows),
    h('p', null, 'Verify token: use your verify token (see ', h('code', null, 'helpstack init'), ' output / config).'),
    h('p', null, 'Then add each Page, Instagram account and WhatsApp number on the server:'),
    h('pre', null, 'helpstack channel add facebook  --page-id PAGE_ID --access-token TOKEN\n' +
      'helpstack channel add instagram --account-id IG_ID --access-token TOKEN\n' +
      'helpstack channel add whatsapp  --phone-number-id PHONE_ID --access-token TOKEN'),
    S.status && S.status.app_secret_configured === false ? h('p', { class: 'warn-text' }, 'Webhooks are rejected until an app secret is configured.') : null);
}

async function copy(text) {
  try { await navigator.clipboard.writeText(text); toast('Copied.', 'ok'); } catch (e) { toast('Copy failed: select the URL and copy it by hand.'); }
}

// ---------------------------------------------------------------- conversation list

function matchesFilter(c, listed) {
  const f = S.filter;
  if (f.channel && String(c.channel && c.channel.id) !== f.channel) return false;
  if (f.status && c.status !== f.status) return false;
  if (f.q && !listed) {
    // The server also searches message texts; live we can only see the name and preview.
    const q = f.q.toLowerCase();
    const hay = [c.contact && c.contact.name, c.contact && c.contact.username, c.contact && c.contact.phone,
      c.contact && c.contact.external_id, c.last_message_preview].filter(Boolean).join('\n').toLowerCase();
    if (!hay.includes(q)) return false;
  }
  return true;
}

const byActivity = (a, b) => ms(b.last_message_at) - ms(a.last_message_at) || b.id - a.id;

async function loadConversations(reset) {
  if (reset) { S.listGen++; S.next = null; S.loadingMore = false; }
  else if (S.loadingMore || !S.next) return;
  const gen = S.listGen;
  S.loadingMore = true;
  const p = new URLSearchParams({ limit: '50' });
  if (S.filter.channel) p.set('channel_id', S.filter.channel);
  if (S.filter.status) p.set('status', S.filter.status);
  if (S.filter.q) p.set('q', S.filter.q);
  if (!reset && S.next) p.set('cursor', S.next);
  if (reset) $('conv-list').setAttribute('aria-busy', 'true');
  try {
    const r = await api('/api/conversations?' + p);
    if (gen !== S.listGen) return; // filters changed meanwhile
    if (reset) { S.convs.clear(); }
    for (const c of r.conversations || []) S.convs.set(c.id, c);
    S.next = r.next || null;
    S.listLoaded = true;
    renderList();
  } finally {
    if (gen === S.listGen) { S.loadingMore = false; $('conv-list').removeAttribute('aria-busy'); }
  }
  maybeLoadMore();
}

/** Upserts a conversation from the API or a live event, keeping filter and order. */
function upsertConversation(c) {
  if (c.id === S.openId) { S.openConv = c; renderThreadHead(); }
  const listed = S.convs.has(c.id);
  if (!matchesFilter(c, listed)) {
    if (listed) { S.convs.delete(c.id); renderList(); }
    return;
  }
  // Older than the loaded window: it will come with the next page, in its place.
  if (!listed && S.next && S.order.length) {
    const tail = S.convs.get(S.order[S.order.length - 1]);
    if (tail && byActivity(c, tail) > 0) return;
  }
  S.convs.set(c.id, c);
  renderList();
}

function renderList() {
  const list = $('conv-list');
  S.order = [...S.convs.values()].sort(byActivity).map((c) => c.id);
  const nodes = S.order.map((id) => {
    const c = S.convs.get(id);
    let li = S.rows.get(id);
    if (!li || li._conv !== c) { // rebuild only rows whose data changed
      const fresh = renderRow(c);
      if (li && li.parentNode) li.replaceWith(fresh);
      li = fresh;
      S.rows.set(id, li);
    }
    li.classList.toggle('active', id === S.openId);
    li.firstChild.setAttribute('aria-current', id === S.openId ? 'true' : 'false');
    return li;
  });
  for (const id of S.rows.keys()) if (!S.convs.has(id)) S.rows.delete(id);
  reconcile(list, nodes);
  $('load-more').hidden = !S.next;
  const empty = $('list-empty');
  empty.hidden = !(S.listLoaded && nodes.length === 0);
  if (!empty.hidden) renderListEmpty(empty);
}

function renderRow(c) {
  const contact = c.contact || {};
  const unread = c.unread_count > 0;
  const li = h('li', { class: 'conv' + (unread ? ' unread' : '') + (c.status === 'resolved' ? ' resolved' : ''), 'data-conv-id': String(c.id) },
    h('button', { type: 'button', class: 'conv-btn', on: { click: () => openConversation(c.id) } },
      h('span', { class: 'avatar-wrap' }, avatar(contact), h('span', { class: 'avatar-badge' }, providerIcon(c.channel && c.channel.provider, 14))),
      h('span', { class: 'conv-main' },
        h('span', { class: 'conv-top' },
          h('span', { class: 'conv-name' }, displayName(contact)),
          timeEl(c.last_message_at, 'rel')),
        h('span', { class: 'conv-bottom' },
          h('span', { class: 'conv-preview' }, c.last_message_preview || ' '),
          unread ? h('span', { class: 'badge', 'aria-label': `${c.unread_count} unread` }, c.unread_count > 99 ? '99+' : String(c.unread_count)) : null))));
  li._conv = c;
  return li;
}

function renderListEmpty(box) {
  const f = S.filter;
  if (f.q || f.channel) {
    box.replaceChildren(h('p', null, f.q ? `No conversations match “${f.q}”.` : 'No conversations on this channel.'),
      h('button', { type: 'button', class: 'btn small', on: { click: clearFilters } }, 'Clear filters'));
  } else if (S.status && !S.channels.length) {
    box.replaceChildren(h('p', null, 'No conversations yet.'), h('p', { class: 'muted small' }, 'Connect a channel to start receiving messages.'));
  } else if (f.status === 'open') {
    box.replaceChildren(h('div', { class: 'empty-art', 'aria-hidden': 'true' }, '✓'), h('p', null, 'All caught up.'),
      h('p', { class: 'muted small' }, 'New messages appear here as they arrive.'));
  } else {
    box.replaceChildren(h('p', null, f.status === 'resolved' ? 'No resolved conversations yet.' : 'No conversations yet.'),
      h('p', { class: 'muted small' }, 'Messages appear here as soon as Meta delivers them.'));
  }
}

function clearFilters() {
  $('search').value = '';
  $('filter-channel').value = '';
  Object.assign(S.filter, { q: '', channel: '' });
  loadConversations(true).catch(failed('Loading conversations failed'));
}

function setStatusFilter(status) {
  S.filter.status = status;
  for (const b of document.querySelectorAll('.seg button')) b.setAttribute('aria-pressed', String(b.dataset.status === status));
  loadConversations(true).catch(failed('Loading conversations failed'));
}

function maybeLoadMore() {
  const sc = $('list-scroll');
  if (S.next && !S.loadingMore && sc.scrollHeight - sc.scrollTop - sc.clientHeight < 200) {
    loadConversations(false).catch(failed('Loading more conversations failed'));
  }
}

/** Relative times drift: refresh them every 30 s without rebuilding rows. */
function tickTimes() {
  for (const t of document.querySelectorAll('time[data-rel]')) t.textContent = relTime(t.getAttribute('datetime'));
}

// ---------------------------------------------------------------- thread

async function openConversation(id) {
  if (!S.user) return;
  const same = S.openId === id;
  S.openId = id;
  S.openConv = S.convs.get(id) || (same ? S.openConv : null);
  if (location.hash !== `#c/${id}`) history.replaceState(null, '', `#c/${id}`);
  document.body.classList.add('show-thread');
  renderList();
  renderPlaceholder();
  renderThreadHead();
  await loadThread(id).catch(failed('Loading the conversation failed'));
  if (S.openId === id) markRead(id);
}

function closeThread() {
  S.openId = null; S.openConv = null; S.threadGen++; S.threadLoading = false;
  S.msgs.clear(); S.nodes.clear(); S.days.clear();
  document.body.classList.remove('show-thread');
  history.replaceState(null, '', location.pathname);
  $('thread-head').hidden = true;
  $('messages').hidden = true;
  $('messages').replaceChildren();
  renderList();
  renderPlaceholder();
}

/** Loads every page of the thread (threads are short; long ones page until `next` is null). */
async function loadThread(id) {
  const gen = ++S.threadGen;
  const box = $('messages');
  const switching = !S.msgs.size || [...S.msgs.values()][0].conversation_id !== id;
  S.threadLoading = true;
  S.pending = [];
  S.pendingAtt = [];
  if (switching) {
    S.msgs.clear(); S.nodes.clear(); S.days.clear(); S.stick = true;
    box.replaceChildren(h('div', { class: 'thread-loading', role: 'status' }, h('span', { class: 'spinner' }), ' Loading…'));
  }
  box.hidden = false;
  try {
    const all = [];
    let cursor = null;
    for (let page = 0; page < 50; page++) {
      const p = new URLSearchParams({ limit: '200' });
      if (cursor) p.set('cursor', cursor);
      const r = await api(`/api/conversations/${id}/messages?${p}`);
      if (gen !== S.threadGen) return;
      all.push(...(r.messages || []));
      cursor = r.next;
      if (!cursor) break;
    }
    if (switching) { S.msgs.clear(); S.nodes.clear(); S.days.clear(); }
    const seen = new Set();
    for (const m of all) { seen.add(m.id); setMessage(m); }
    for (const id2 of [...S.msgs.keys()]) if (!seen.has(id2)) { S.msgs.delete(id2); S.nodes.delete(id2); }
    if (!S.openConv && all.length === 0) renderThreadHead();
  } catch (e) {
    if (gen === S.threadGen && switching) {
      box.replaceChildren(h('div', { class: 'thread-error' }, h('p', null, `Couldn't load this conversation: ${e.message}`),
        h('button', { type: 'button', class: 'btn small', on: { click: () => openConversation(id) } }, 'Retry')));
    }
    throw e;
  } finally {
    if (gen === S.threadGen) {
      S.threadLoading = false;
      const pending = S.pending, atts = S.pendingAtt;
      S.pending = []; S.pendingAtt = [];
      for (const m of pending) setMessage(m); // newer than what the load returned
      for (const a of atts) {
        const m = S.msgs.get(a.message_id);
        if (m) setMessage({ ...m, attachments: mergeAttachment(m.attachments, a) });
      }
      if (!box.querySelector('.thread-error')) syncThread();
    }
  }
}

/** Stores a message of the open thread and (re)builds its element. */
function setMessage(m) {
  S.msgs.set(m.id, m);
  const old = S.nodes.get(m.id);
  const el = renderMessage(m);
  if (old && old.parentNode) old.replaceWith(el);
  S.nodes.set(m.id, el);
}

const byTime = (a, b) => ms(a.sent_at) - ms(b.sent_at) || a.id - b.id;

function syncThread() {
  const box = $('messages');
  const wasAtBottom = S.stick;
  const nodes = [];
  let lastDay = null;
  const sorted = [...S.msgs.values()].sort(byTime);
  for (const m of sorted) {
    const t = ms(m.sent_at), d = new Date(t);
    const key = `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
    if (key !== lastDay) {
      let sep = S.days.get(key);
      if (!sep) { sep = h('div', { class: 'day-sep', role: 'separator' }, h('span', null, dayLabel(t))); S.days.set(key, sep); }
      nodes.push(sep);
      lastDay = key;
    }
    nodes.push(S.nodes.get(m.id));
  }
  if (!sorted.length) nodes.push(h('div', { class: 'thread-empty muted' }, 'No messages in this conversation yet.'));
  reconcile(box, nodes);
  if (wasAtBottom) scrollToBottom();
}

function scrollToBottom() {
  const box = $('messages');
  box.scrollTop = box.scrollHeight;
  S.stick = true;
}

function renderThreadHead() {
  const head = $('thread-head');
  const c = S.openConv;
  if (S.openId == null) { head.hidden = true; return; }
  head.hidden = false;
  if (!c) { head.replaceChildren(backButton(), h('span', { class: 'muted' }, 'Conversation')); return; }
  const contact = c.contact || {};
  const sub = [];
  if (contact.username && contact.name) sub.push('@' + contact.username);
  if (contact.phone) sub.push('+' + String(contact.phone).replace(/^\+/, ''));
  const resolved = c.status === 'resolved';
  head.replaceChildren(
    backButton(),
    avatar(contact, 'lg'),
    h('div', { class: 'head-main' },
      h('div', { class: 'head-name' }, h('span', { class: 'name' }, displayName(contact)), resolved ? h('span', { class: 'pill' }, 'Resolved') : null),
      h('div', { class: 'head-sub' }, providerIcon(c.channel && c.channel.provider, 14),
        h('span', null, [providerLabel(c.channel && c.channel.provider) + ' · ' + ((c.channel && c.channel.name) || ''), ...sub].join(' · ')))),
    h('button', { type: 'button', id: 'btn-status', class: resolved ? 'btn' : 'btn primary', on: { click: () => toggleStatus(c) } },
      resolved ? 'Reopen' : '✓ Resolve'));
}

function backButton() {
  return h('button', { type: 'button', class: 'btn ghost back', 'aria-label': 'Back to conversations', on: { click: closeThread } }, '‹');
}

async function toggleStatus(c) {
  const status = c.status === 'resolved' ? 'open' : 'resolved';
  const btn = $('btn-status');
  if (btn) btn.disabled = true;
  try {
    const r = await api(`/api/conversations/${c.id}/status`, { method: 'POST', body: { status } });
    if (r && r.conversation) upsertConversation(r.conversation);
    toast(status === 'resolved' ? 'Conversation resolved.' : 'Conversation reopened.', 'ok');
  } catch (e) {
    failed('Changing the status failed')(e);
    if (btn) btn.disabled = false;
  }
}

let readTimer = null;
async function markRead(id) {
  clearTimeout(readTimer);
  try {
    const r = await api(`/api/conversations/${id}/read`, { method: 'POST' });
    if (r && r.conversation) upsertConversation(r.conversation);
  } catch (e) { failed('Marking as read failed')(e); }
}

// ---------------------------------------------------------------- message rendering

const TICKS = { sent: ['✓', 'Sent'], delivered: ['✓✓', 'Delivered'], read: ['✓✓', 'Read'], played: ['✓✓', 'Played'], failed: ['⚠', 'Not delivered'] };

function renderMessage(m) {
  const out = m.direction === 'outbound';
  const bubble = h('div', { class: `bubble kind-${m.kind}` + (m.deleted ? ' deleted' : '') }, renderBody(m));
  const meta = h('div', { class: 'meta' });
  if (m.edited) {
    const prev = (m.previous_text || []).filter((t) => t != null);
    meta.append(h('span', { class: 'edited', tabindex: '0', title: prev.length ? 'Before editing:\n' + prev.join('\n———\n') : 'Edited' }, 'edited'));
  }
  meta.append(timeEl(m.sent_at));
  if (out && m.status && TICKS[m.status]) {
    const [sym, label] = TICKS[m.status];
    let title = label;
    if (m.status === 'failed' && m.error) title = `Not delivered: ${m.error.title || 'error'}${m.error.code != null ? ` (code ${m.error.code})` : ''}`;
    meta.append(h('span', { class: `ticks ${m.status}`, title, 'aria-label': title }, sym));
  }
  bubble.append(meta);
  const wrap = h('div', { class: `msg ${out ? 'out' : 'in'}`, 'data-id': String(m.id), id: `m-${m.id}` }, bubble);
  if (out && m.status === 'failed') {
    wrap.append(h('div', { class: 'msg-error' }, `Not delivered${m.error && m.error.title ? ': ' + m.error.title : ''}`));
  }
  const reactions = renderReactions(m.reactions);
  if (reactions) wrap.append(reactions);
  return wrap;
}

function renderBody(m) {
  const p = m.payload && typeof m.payload === 'object' ? m.payload : {};
  const out = [];
  if (m.deleted) out.push(h('div', { class: 'deleted-note' }, '⊘ This message was deleted'));
  if (p.reply_to_story) out.push(h('div', { class: 'note' }, 'Replied to your story'));
  if (p.referral) out.push(h('div', { class: 'note' }, `Came from ${String(p.referral.source || 'a link').toLowerCase()}${p.referral.ref ? ` (${p.referral.ref})` : ''}`));
  if (m.reply_to) out.push(replyQuote(m.reply_to));
  const text = m.text ? h('p', { class: 'text' + (m.deleted ? ' struck' : '') }, m.text) : null;
  const links = Array.isArray(p.links) ? p.links : [];
  switch (m.kind) {
    case 'location': out.push(locationNode(p.location, m.text)); break;
    case 'contacts': out.push(contactsNode(p.contacts, m.text)); break;
    case 'postback':
      out.push(h('span', { class: 'chip postback', title: p.postback ? `Button payload: ${p.postback}` : null }, '▸ ', m.text || p.postback || 'Button'));
      break;
    case 'unsupported':
      out.push(h('div', { class: 'unsupported' }, 'Unsupported message'));
      if (text) out.push(text);
      break;
    default: {
      const atts = m.attachments || [];
      for (const a of atts) out.push(attachmentNode(a));
      if (!atts.length && m.kind !== 'text' && !m.text) out.push(h('div', { class: 'att-state muted' }, `${cap(m.kind)} (no file)`));
      // A shared link's text is often just its URL: the link card says it better.
      if (text && !(links.length === 1 && links[0].url === m.text)) out.push(text);
    }
  }
  for (const l of links) out.push(linkNode(l));
  if (p.quick_reply) out.push(h('span', { class: 'chip', title: `Quick reply payload: ${p.quick_reply}` }, 'Quick reply'));
  if (!out.length || (out.length === 1 && m.deleted)) out.push(h('p', { class: 'text muted' }, m.deleted ? '' : '(empty message)'));
  return out;
}

const cap = (s) => String(s || '').charAt(0).toUpperCase() + String(s || '').slice(1);

function replyQuote(ext) {
  const target = [...S.msgs.values()].find((x) => x.external_id === ext);
  if (!target) return h('div', { class: 'quote' }, h('span', { class: 'quote-label' }, '↩ Reply to an earlier message'));
  return h('button', { type: 'button', class: 'quote', title: 'Show the message replied to',
    on: { click: () => { const el = S.nodes.get(target.id); if (el) { el.scrollIntoView({ block: 'center' }); el.classList.add('flash'); setTimeout(() => el.classList.remove('flash'), 1200); } } } },
  h('span', { class: 'quote-label' }, 'Reply to'), h('span', { class: 'quote-text' }, target.text || cap(target.kind)));
}

function attachmentNode(a) {
  const kind = a.kind || 'file';
  const url = safeUrl(a.url);
  if (a.status === 'stored' && url) {
    if (kind === 'image' || kind === 'sticker') {
      const img = h('img', { src: url, alt: a.filename || (kind === 'sticker' ? 'Sticker' : 'Image'), loading: 'lazy', class: kind === 'sticker' ? 'sticker' : 'photo' });
      img.addEventListener('load', () => { if (S.stick) scrollToBottom(); });
      return h('a', { class: 'media-link', href: url, target: '_blank', rel: 'noopener', title: 'Open full size' }, img);
    }
    if (kind === 'video') return h('video', { src: url, controls: true, preload: 'metadata', class: 'video' });
    if (kind === 'audio') return h('audio', { src: url, controls: true, preload: 'metadata' });
    return h('a', { class: 'file', href: url, download: a.filename || '' },
      h('span', { class: 'file-icon' }, glyph('file', 20)),
      h('span', { class: 'file-name' }, a.filename || 'Download file'),
      h('span', { class: 'file-size' }, [a.mime_type, fmtSize(a.size)].filter(Boolean).join(' · ')));
  }
  if (a.status === 'pending' || (a.status === 'stored' && !url)) {
    return h('div', { class: 'att-state pending', role: 'status' }, h('span', { class: 'spinner' }), ` Downloading ${kind}…`);
  }
  if (a.status === 'failed') {
    return h('div', { class: 'att-state failed' }, `⚠ ${cap(kind)} could not be downloaded${a.error ? ': ' + a.error : ''}`);
  }
  // skipped: policy or size kept the bytes away; the original may still be reachable.
  const src = safeUrl(a.source_url);
  return h('div', { class: 'att-state skipped' }, `${cap(kind)} not downloaded${a.error ? ` (${a.error})` : ''}`,
    src ? [' · ', h('a', { href: src, target: '_blank', rel: 'noopener noreferrer' }, 'Open original')] : null);
}

function locationNode(loc, text) {
  const lat = Number(loc && loc.latitude), lon = Number(loc && loc.longitude);
  const label = [loc && loc.name, loc && loc.address].filter(Boolean).join(' — ') || text || 'Shared location';
  if (!Number.isFinite(lat) || !Number.isFinite(lon)) return h('div', { class: 'location' }, h('span', { class: 'loc-pin' }, glyph('pin', 20)), label);
  const href = `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=16/${lat}/${lon}`;
  return h('a', { class: 'location', href, target: '_blank', rel: 'noopener noreferrer' },
    h('span', { class: 'loc-pin' }, glyph('pin', 20)),
    h('span', null, h('span', { class: 'loc-label' }, label), h('span', { class: 'loc-coords' }, `${lat.toFixed(5)}, ${lon.toFixed(5)}`)));
}

function contactsNode(list, text) {
  const items = (Array.isArray(list) ? list : []).map((c) => {
    const n = c && c.name;
    const name = (n && (n.formatted_name || [n.first_name, n.last_name].filter(Boolean).join(' '))) || 'Contact';
    const lines = [];
    for (const ph of (c && c.phones) || []) lines.push(h('div', null, '☎ ', ph.phone || ph.wa_id || ''));
    for (const em of (c && c.emails) || []) lines.push(h('div', null, '✉ ', em.email || ''));
    if (c && c.org && c.org.company) lines.push(h('div', null, [c.org.company, c.org.title].filter(Boolean).join(' · ')));
    return h('li', null, h('strong', null, name), lines);
  });
  if (!items.length) return h('div', { class: 'contacts' }, text || 'Shared contact');
  return h('ul', { class: 'contacts', 'aria-label': 'Shared contacts' }, items);
}

function linkNode(l) {
  const url = safeUrl(l && l.url);
  const label = (l && l.title) || (l && l.url) || (l && l.type ? `Shared ${l.type}` : 'Shared link');
  if (!url) return h('div', { class: 'link-card' }, h('span', { class: 'link-title' }, label));
  return h('a', { class: 'link-card', href: url, target: '_blank', rel: 'noopener noreferrer' },
    h('span', { class: 'link-title' }, label), l.title ? h('span', { class: 'link-url' }, url) : null);
}

function renderReactions(list) {
  if (!Array.isArray(list) || !list.length) return null;
  const groups = new Map();
  const customer = S.openConv && S.openConv.contact && S.openConv.contact.external_id;
  for (const r of list) {
    const key = r.emoji || r.reaction || '♥';
    const who = r.reactor === customer ? 'customer' : r.reactor ? 'you' : 'someone';
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(who);
  }
  return h('div', { class: 'reactions' }, [...groups].map(([emoji, who]) =>
    h('span', { class: 'reaction', title: `Reacted by ${who.join(', ')}` }, emoji, who.length > 1 ? h('span', { class: 'count' }, String(who.length)) : null)));
}

// ---------------------------------------------------------------- live updates

const live = { ws: null, attempt: 0, timer: null, queue: null, stopped: true };

function setLive(state, text) {
  const el = $('live');
  el.dataset.state = state;
  el.textContent = text;
}

function connectLive() {
  live.stopped = false;
  clearTimeout(live.timer);
  let ws;
  try {
    ws = new WebSocket(`${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/api/live`);
  } catch (e) {
    // The constructor can throw (e.g. a policy refusing the URL): keep retrying anyway.
    scheduleReconnect();
    return;
  }
  live.ws = ws;
  ws.addEventListener('message', (e) => {
    if (live.ws !== ws) return;
    let ev;
    try { ev = JSON.parse(e.data); } catch (err) { return; }
    if (ev.type === 'hello') onHello(ws, ev.latest);
    else if (ev.type === 'resync') resync(ws);
    else if (live.queue) live.queue.push(ev); // catching up: apply after, in order
    else applyEvent(ev);
  });
  ws.addEventListener('close', () => {
    if (live.ws !== ws) return;
    live.ws = null;
    if (!live.stopped) scheduleReconnect();
  });
}

function scheduleReconnect() {
  setLive('down', 'Reconnecting…');
  // 0.5 s doubling to 10 s, with jitter so many tabs do not reconnect in lockstep.
  const base = Math.min(10000, 500 * 2 ** live.attempt++);
  clearTimeout(live.timer);
  live.timer = setTimeout(() => reconnect().catch(scheduleReconnect), base / 2 + Math.random() * base / 2);
}

async function reconnect() {
  if (live.stopped) return;
  // A socket that keeps failing may mean the session expired (the upgrade gets a 401).
  if (live.attempt >= 3) {
    try { await api('/api/session'); } catch (e) { if (e.status === 401) return; }
  }
  if (!live.stopped) connectLive();
}

function stopLive() {
  live.stopped = true;
  clearTimeout(live.timer);
  if (live.ws) { const ws = live.ws; live.ws = null; ws.close(); }
  setLive('connecting', 'Connecting…');
}

async function onHello(ws, latest) {
  live.queue = [];
  try {
    // First connection (or a server whose numbers went backwards): load everything,
    // then continue from its hello. Set only after success, so a failed load is retried.
    if (S.lastSeq == null || latest < S.lastSeq) { await fullRefresh(); S.lastSeq = latest; }
    else if (latest > S.lastSeq) await catchUp();
  } catch (e) {
    // Catch-up failed: applying newer events now would skip the missed ones. Drop this
    // socket; the next connection retries from the same lastSeq.
    live.queue = null;
    if (live.ws === ws) ws.close();
    return;
  }
  if (live.ws !== ws) { live.queue = null; return; }
  const queued = live.queue;
  live.queue = null;
  for (const ev of queued) applyEvent(ev);
  live.attempt = 0;
  setLive('live', 'Live');
}

async function catchUp() {
  for (let i = 0; i < 100; i++) {
    const r = await api(`/api/events?after=${S.lastSeq}`);
    if (r.gap) { await fullRefresh(); S.lastSeq = r.latest; return; }
    for (const ev of r.events || []) applyEvent(ev);
    if (!(r.events || []).length || S.lastSeq >= r.latest) { S.lastSeq = Math.max(S.lastSeq, r.latest); return; }
  }
}

async function resync(ws) {
  live.queue = [];
  try { await fullRefresh(); } catch (e) { live.queue = null; if (live.ws === ws) ws.close(); return; }
  const queued = live.queue; live.queue = null;
  for (const ev of queued) applyEvent(ev);
}

/** Refetches everything the page shows. */
async function fullRefresh() {
  S.refreshStarted = true;
  const jobs = [loadStatusAndChannels(), loadConversations(true)];
  if (S.openId != null) jobs.push(loadThread(S.openId));
  await Promise.all(jobs);
}

function applyEvent(ev) {
  if (typeof ev.seq === 'number') {
    if (S.lastSeq != null && ev.seq <= S.lastSeq) return; // seen already
    S.lastSeq = ev.seq;
  }
  switch (ev.type) {
    case 'conversation.updated':
      if (ev.conversation) onConversationEvent(ev.conversation);
      break;
    case 'message.created':
    case 'message.updated':
      if (ev.message) onMessageEvent(ev.message);
      break;
    case 'contact.updated':
      if (ev.contact) onContactEvent(ev.contact);
      break;
    case 'attachment.updated':
      if (ev.attachment) onAttachmentEvent(ev.attachment);
      break;
    default: break; // newer server, older page: ignore what we do not know
  }
}

function onConversationEvent(c) {
  upsertConversation(c);
  // The agent is looking at it: new messages are read as they arrive.
  if (c.id === S.openId && c.unread_count > 0 && document.visibilityState === 'visible') {
    clearTimeout(readTimer);
    readTimer = setTimeout(() => { if (S.openId === c.id) markRead(c.id); }, 400);
  }
}

function onMessageEvent(m) {
  if (m.conversation_id !== S.openId) return;
  if (S.threadLoading) { S.pending.push(m); return; }
  setMessage(m);
  syncThread();
}

function onContactEvent(ct) {
  let changed = false;
  for (const [id, c] of S.convs) {
    if (c.contact && c.contact.id === ct.id) {
      S.convs.set(id, { ...c, contact: { ...c.contact, ...ct } });
      changed = true;
    }
  }
  if (S.openConv && S.openConv.contact && S.openConv.contact.id === ct.id) {
    S.openConv = { ...S.openConv, contact: { ...S.openConv.contact, ...ct } };
    renderThreadHead();
  }
  if (changed) renderList();
}

function onAttachmentEvent(a) {
  if (S.threadLoading) { S.pendingAtt.push(a); return; } // may be newer than the page being loaded
  const m = S.msgs.get(a.message_id);
  if (!m) return;
  setMessage({ ...m, attachments: mergeAttachment(m.attachments, a) });
  syncThread();
}

function mergeAttachment(list, a) {
  const out = (list || []).filter((x) => x.id !== a.id);
  out.push(a);
  return out.sort((x, y) => x.id - y.id);
}

// ---------------------------------------------------------------- wiring

function wireStatic() {
  $('login-form').addEventListener('submit', onLogin);
  $('btn-logout').addEventListener('click', logout);
  $('btn-password').addEventListener('click', openPasswordDialog);
  $('pw-form').addEventListener('submit', onChangePassword);
  $('pw-cancel').addEventListener('click', () => $('pw-dialog').close());
  $('load-more').addEventListener('click', () => loadConversations(false).catch(failed('Loading more conversations failed')));
  $('list-scroll').addEventListener('scroll', maybeLoadMore, { passive: true });
  $('messages').addEventListener('scroll', () => {
    const b = $('messages');
    S.stick = b.scrollHeight - b.scrollTop - b.clientHeight < 60;
  }, { passive: true });
  $('filter-channel').addEventListener('change', (e) => {
    S.filter.channel = e.target.value;
    loadConversations(true).catch(failed('Loading conversations failed'));
  });
  for (const b of document.querySelectorAll('.seg button')) b.addEventListener('click', () => setStatusFilter(b.dataset.status));
  let searchTimer = null;
  $('search').addEventListener('input', (e) => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      const q = e.target.value.trim();
      if (q === S.filter.q) return;
      S.filter.q = q;
      loadConversations(true).catch(failed('Search failed'));
    }, 300);
  });
  document.addEventListener('keydown', onKey);
  document.addEventListener('visibilitychange', () => {
    const c = S.openId != null && (S.convs.get(S.openId) || S.openConv);
    if (document.visibilityState === 'visible' && c && c.unread_count > 0) markRead(c.id);
  });
  window.addEventListener('hashchange', () => {
    const m = /^#c\/(\d+)$/.exec(location.hash);
    if (m && Number(m[1]) !== S.openId && S.user) openConversation(Number(m[1]));
  });
  setInterval(tickTimes, 30000);
  // Token health and configuration are not live events: poll them, gently.
  setInterval(() => { if (S.user && S.refreshStarted) loadStatusAndChannels().catch(() => {}); }, 60000);
}

function onKey(e) {
  if (!S.user || e.ctrlKey || e.metaKey || e.altKey || $('pw-dialog').open) return;
  const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName) || e.target.isContentEditable;
  if (e.key === 'Escape' && e.target.id === 'search' && e.target.value) { e.target.value = ''; e.target.dispatchEvent(new Event('input')); return; }
  if (typing) return;
  if (e.key === '/') { e.preventDefault(); $('search').focus(); return; }
  if (e.key === 'j' || e.key === 'k') {
    if (!S.order.length) return;
    const i = S.order.indexOf(S.openId);
    const next = i < 0 ? 0 : Math.max(0, Math.min(S.order.length - 1, i + (e.key === 'j' ? 1 : -1)));
    openConversation(S.order[next]);
    const row = S.rows.get(S.order[next]);
    if (row) row.scrollIntoView({ block: 'nearest' });
  } else if (e.key === 'Escape' && document.body.classList.contains('show-thread')) {
    closeThread();
  }
}

document.addEventListener('DOMContentLoaded', boot);
