/* The open conversation: loading, ordering, its header and status actions. */
import { api } from './api.js';
import { $, h, reconcile } from './dom.js';
import { avatar, dayLabel, displayName, ms } from './format.js';
import { providerIcon, providerLabel } from './icons.js';
import { renderList, upsertConversation } from './list.js';
import { renderMessage } from './message.js';
import { S } from './state.js';
import { renderPlaceholder } from './status.js';
import { failed, toast } from './toast.js';

export async function openConversation(id) {
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

export function closeThread() {
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
export async function loadThread(id) {
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
export function setMessage(m) {
  S.msgs.set(m.id, m);
  const old = S.nodes.get(m.id);
  const el = renderMessage(m);
  if (old && old.parentNode) old.replaceWith(el);
  S.nodes.set(m.id, el);
}

const byTime = (a, b) => ms(a.sent_at) - ms(b.sent_at) || a.id - b.id;

export function syncThread() {
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

export function scrollToBottom() {
  const box = $('messages');
  box.scrollTop = box.scrollHeight;
  S.stick = true;
}

export function renderThreadHead() {
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
export async function markRead(id) {
  clearTimeout(readTimer);
  try {
    const r = await api(`/api/conversations/${id}/read`, { method: 'POST' });
    if (r && r.conversation) upsertConversation(r.conversation);
  } catch (e) { failed('Marking as read failed')(e); }
}

/** Marks the open conversation read shortly (live messages come in bursts). */
export function markReadSoon(id) {
  clearTimeout(readTimer);
  readTimer = setTimeout(() => { if (S.openId === id) markRead(id); }, 400);
}

export function mergeAttachment(list, a) {
  const out = (list || []).filter((x) => x.id !== a.id);
  out.push(a);
  return out.sort((x, y) => x.id - y.id);
}
