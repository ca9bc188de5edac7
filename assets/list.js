/* The conversation list: filters, paging and rows. */
import { api } from './api.js';
import { $, h, reconcile } from './dom.js';
import { avatar, displayName, ms, relTime, timeEl } from './format.js';
import { providerIcon } from './icons.js';
import { S } from './state.js';
import { openConversation, renderThreadHead } from './thread.js';
import { failed } from './toast.js';

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

export async function loadConversations(reset) {
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
export function upsertConversation(c) {
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

export function renderList() {
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

export function setStatusFilter(status) {
  S.filter.status = status;
  for (const b of document.querySelectorAll('.seg button')) b.setAttribute('aria-pressed', String(b.dataset.status === status));
  loadConversations(true).catch(failed('Loading conversations failed'));
}

export function maybeLoadMore() {
  const sc = $('list-scroll');
  if (S.next && !S.loadingMore && sc.scrollHeight - sc.scrollTop - sc.clientHeight < 200) {
    loadConversations(false).catch(failed('Loading more conversations failed'));
  }
}

/** Relative times drift: refresh them every 30 s without rebuilding rows. */
export function tickTimes() {
  for (const t of document.querySelectorAll('time[data-rel]')) t.textContent = relTime(t.getAttribute('datetime'));
}
