/* One message of the thread as elements: body, attachments, ticks, reactions. */
import { h, safeUrl } from './dom.js';
import { cap, fmtSize, timeEl } from './format.js';
import { glyph } from './icons.js';
import { S } from './state.js';
import { scrollToBottom } from './thread.js';

const TICKS = { sent: ['✓', 'Sent'], delivered: ['✓✓', 'Delivered'], read: ['✓✓', 'Read'], played: ['✓✓', 'Played'], failed: ['⚠', 'Not delivered'] };

export function renderMessage(m) {
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
