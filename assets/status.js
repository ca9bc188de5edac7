/* Server status, the channel filter, banners and the empty thread pane. */
import { api } from './api.js';
import { $, h } from './dom.js';
import { glyph, providerIcon, providerLabel } from './icons.js';
import { loadConversations } from './list.js';
import { S } from './state.js';
import { failed, toast } from './toast.js';

export async function loadStatusAndChannels() {
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
    out.push(banner('warn', sentence(st.app_secret_problem), sentence(st.app_secret_step)));
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

// Server texts are clauses ("no app secret ..."); shown as sentences.
function sentence(text) {
  const t = String(text || '');
  return t ? `${t[0].toUpperCase()}${t.slice(1)}${/[.!?]$/.test(t) ? '' : '.'}` : '';
}

function banner(kind, title, detail) {
  return h('div', { class: `banner ${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    h('span', { class: 'banner-icon', 'aria-hidden': 'true' }, kind === 'error' ? '!' : 'i'),
    h('div', null, h('strong', null, title), detail ? h('div', { class: 'banner-detail' }, detail) : null));
}

/** What the thread pane shows when no conversation is open. */
export function renderPlaceholder() {
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
    S.status && S.status.app_secret_configured === false
      ? h('p', { class: 'warn-text' }, `${sentence(S.status.app_secret_problem)} ${sentence(S.status.app_secret_step)}`)
      : null);
}

async function copy(text) {
  try { await navigator.clipboard.writeText(text); toast('Copied.', 'ok'); } catch (e) { toast('Copy failed: select the URL and copy it by hand.'); }
}
