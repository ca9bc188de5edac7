/* HelpStack dashboard: plain DOM and ES modules, no framework, no build step.
 * This entry module wires the static page and starts; see dom.js for the safety rule.
 */
import { api } from './api.js';
import { $ } from './dom.js';
import { loadConversations, maybeLoadMore, setStatusFilter, tickTimes } from './list.js';
import { logout, onChangePassword, onLogin, openPasswordDialog, showLogin, startApp } from './session.js';
import { S } from './state.js';
import { loadStatusAndChannels } from './status.js';
import { closeThread, markRead, openConversation } from './thread.js';
import { failed } from './toast.js';

async function boot() {
  wireStatic();
  try {
    const me = await api('/api/session', { expect401: true });
    startApp(me.username);
  } catch (e) {
    showLogin(e.status === 401 ? null : 'Cannot reach the server. Retry in a moment.');
  }
}

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
