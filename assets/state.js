/* What the page knows: one object, shared by the modules that render it. */

export const S = {
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
