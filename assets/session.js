/* Login, logout, session end and password change. */
import { api } from './api.js';
import { $ } from './dom.js';
import { connectLive, fullRefresh, stopLive } from './live.js';
import { S } from './state.js';
import { renderPlaceholder } from './status.js';
import { openConversation } from './thread.js';
import { failed, toast } from './toast.js';

export function showLogin(message) {
  $('boot').hidden = true;
  $('app').hidden = true;
  $('login').hidden = false;
  const err = $('login-error');
  err.hidden = !message;
  err.textContent = message || '';
  $('login-user').focus();
}

export async function onLogin(ev) {
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

export function startApp(username) {
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
export function sessionEnded(message = 'Your session ended. Sign in again.') {
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

export async function logout() {
  try { await api('/api/session', { method: 'DELETE', expect401: true }); } catch (e) { /* gone anyway */ }
  sessionEnded('');
}

// ---------------------------------------------------------------- change password

export function openPasswordDialog() {
  $('pw-form').reset();
  $('pw-error').hidden = true;
  $('pw-dialog').showModal();
  $('pw-current').focus();
}

export async function onChangePassword(ev) {
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
