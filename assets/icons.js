/* Provider logos and small UI glyphs, drawn as inline SVG. */
import { svgEl } from './dom.js';

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

export function providerIcon(provider, size = 16) {
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
export function glyph(name, size = 16) {
  const s = svgEl('svg', { viewBox: '0 0 24 24', width: String(size), height: String(size), class: 'glyph', 'aria-hidden': 'true' });
  s.append(svgEl('path', { d: GLYPHS[name], fill: 'currentColor' }));
  return s;
}

export const providerLabel = (p) => (PROVIDERS[p] ? PROVIDERS[p].label : String(p || 'Channel'));
