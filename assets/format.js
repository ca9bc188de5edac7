/* Names, avatars, times and sizes as the dashboard shows them. */
import { h, safeUrl } from './dom.js';

export function displayName(c) {
  if (!c) return 'Unknown';
  return c.name || (c.username ? '@' + c.username : null) || (c.phone ? '+' + String(c.phone).replace(/^\+/, '') : null) || c.external_id || 'Unknown';
}

function initials(name) {
  const words = String(name).replace(/^[@+]/, '').trim().split(/\s+/).filter(Boolean);
  if (!words.length || /^\d/.test(words[0])) return '#';
  return (words[0][0] + (words.length > 1 ? words[words.length - 1][0] : '')).toUpperCase();
}

export function avatar(contact, extra) {
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

export const ms = (iso) => { const t = Date.parse(iso); return Number.isFinite(t) ? t : 0; };
const DAY = 86400e3;
const weekday = new Intl.DateTimeFormat(undefined, { weekday: 'short' });
const dayMonth = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const dayMonthYear = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', year: 'numeric' });
const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const full = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'short' });

/** "now", "2m", "3h", "Mon", "12 Mar", "12 Mar 2024". */
export function relTime(iso) {
  const t = ms(iso);
  if (!t) return '';
  const d = Date.now() - t;
  if (d < 60e3) return 'now';
  if (d < 3600e3) return Math.floor(d / 60e3) + 'm';
  if (d < DAY) return Math.floor(d / 3600e3) + 'h';
  if (d < 6 * DAY) return weekday.format(t);
  return new Date(t).getFullYear() === new Date().getFullYear() ? dayMonth.format(t) : dayMonthYear.format(t);
}

export function timeEl(iso, mode) {
  const t = ms(iso);
  const el = h('time', { datetime: iso || '', title: t ? full.format(t) : null });
  if (mode === 'rel') { el.dataset.rel = '1'; el.textContent = relTime(iso); } else el.textContent = t ? clock.format(t) : '';
  return el;
}

export function dayLabel(t) {
  const start = new Date(); start.setHours(0, 0, 0, 0);
  if (t >= start.getTime()) return 'Today';
  if (t >= start.getTime() - DAY) return 'Yesterday';
  return new Date(t).getFullYear() === start.getFullYear()
    ? new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long' }).format(t)
    : dayMonthYear.format(t);
}

export function fmtSize(n) {
  if (!Number.isFinite(n) || n < 0) return '';
  if (n < 1024) return n + ' B';
  if (n < 1024 * 1024) return (n / 1024).toFixed(n < 10240 ? 1 : 0) + ' KB';
  return (n / 1048576).toFixed(1) + ' MB';
}

export const cap = (s) => String(s || '').charAt(0).toUpperCase() + String(s || '').slice(1);
