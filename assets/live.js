/* Live updates over the WebSocket, with catch-up through /api/events after a drop. */
import { api } from './api.js';
import { $ } from './dom.js';
import { loadConversations, renderList, upsertConversation } from './list.js';
import { S } from './state.js';
import { loadStatusAndChannels } from './status.js';
import { loadThread, markReadSoon, mergeAttachment, renderThreadHead, setMessage, syncThread } from './thread.js';

const live = { ws: null, attempt: 0, timer: null, queue: null, stopped: true };

function setLive(state, text) {
  const el = $('live');
  el.dataset.state = state;
  el.textContent = text;
}

export function connectLive() {
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

export function stopLive() {
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
export async function fullRefresh() {
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
    markReadSoon(c.id);
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
