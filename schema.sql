-- HelpStack schema: the CURRENT full schema, applied to fresh databases.
-- Older databases reach the same shape through the numbered migrations in
-- src/store/migrate.rs; a test checks that both paths give the same schema.
-- Times are integer epoch milliseconds (UTC).
--
-- CHECK constraints on the tables the ingest writer fills list allowed values as OR
-- chains, not `IN (...)`: SQLite evaluates an IN list of more than two constants by
-- building a temporary b-tree on every row written (about 5% of the writer's time).

-- A Meta asset HelpStack receives for: a Facebook Page, an Instagram professional
-- account or a WhatsApp phone number.
CREATE TABLE channels (
    id            INTEGER PRIMARY KEY,
    provider      TEXT    NOT NULL CHECK (provider IN ('facebook', 'instagram', 'whatsapp')),
    external_id   TEXT    NOT NULL,          -- page id / Instagram account id / phone number id
    name          TEXT    NOT NULL,
    credentials   TEXT    NOT NULL DEFAULT '{}', -- JSON: accessToken, pageId, phoneNumberId, wabaId
    token_status  TEXT    NOT NULL DEFAULT 'unknown'
                  CHECK (token_status IN ('unknown', 'ok', 'token_invalid')),
    token_error   TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (provider, external_id)
);

-- A customer as seen by one channel (PSID, IGSID, WhatsApp number or BSUID).
CREATE TABLE contacts (
    id                 INTEGER PRIMARY KEY,
    channel_id         INTEGER NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    external_id        TEXT    NOT NULL,
    name               TEXT,
    username           TEXT,
    phone              TEXT,
    avatar_sha256      TEXT,             -- stored profile picture, content-addressed
    avatar_mime        TEXT,
    profile_fetched_at INTEGER,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    UNIQUE (channel_id, external_id)
);

-- One thread per (channel, contact).
CREATE TABLE conversations (
    id                   INTEGER PRIMARY KEY,
    channel_id           INTEGER NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    contact_id           INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    status               TEXT    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    unread_count         INTEGER NOT NULL DEFAULT 0,
    last_message_at      INTEGER NOT NULL DEFAULT 0,
    last_message_preview TEXT,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    UNIQUE (channel_id, contact_id)
);
-- Keyset pagination of the inbox, newest activity first, with and without filters.
-- Every message moves its conversation in each index that holds it, so each
-- conversation is in exactly two: its status's partial index, and its channel's run
-- of conversations_by_channel for that status. Each filter reads its own range in
-- order; the unfiltered inbox (or a channel's) merges the open and the resolved range
-- (store::conversation::list). With one index over both statuses, the open inbox of a
-- tidy team (a dozen open among 50,000 resolved) read every conversation per page:
-- 27 ms, growing with the history. Ascending, read backwards: a message moves its
-- conversation to the end of each index, where SQLite appends cheaply; at the front
-- (a DESC index) every page split rebalanced three pages, and each commit wrote
-- twice as many index pages.
CREATE INDEX conversations_open ON conversations (last_message_at, id)
    WHERE status = 'open';
CREATE INDEX conversations_resolved ON conversations (last_message_at, id)
    WHERE status = 'resolved';
CREATE INDEX conversations_by_channel ON conversations (channel_id, status, last_message_at, id);

-- A message in a thread. Unique per (channel, Meta's id): redelivery is a no-op.
-- The event as Meta sent it stays in webhook_journal; it is not copied here.
CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    channel_id      INTEGER NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    external_id     TEXT    NOT NULL,   -- mid / wamid
    direction       TEXT    NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    kind            TEXT    NOT NULL CHECK (kind = 'text' OR kind = 'image' OR kind = 'video'
                                OR kind = 'audio' OR kind = 'file' OR kind = 'sticker'
                                OR kind = 'location' OR kind = 'contacts' OR kind = 'postback'
                                OR kind = 'unsupported'),
    text            TEXT,               -- as first received; edits live in message_edits
    payload         TEXT,               -- JSON: postback payload, location, shared contacts, links
    reply_to        TEXT,               -- external id of the quoted message
    sent_at         INTEGER NOT NULL,   -- Meta's event time, not arrival time
    created_at      INTEGER NOT NULL,
    UNIQUE (channel_id, external_id)
);
CREATE INDEX messages_by_thread ON messages (conversation_id, sent_at, id);

-- Full-text search over message text for the inbox search box (external content: the
-- text lives once, in messages).
CREATE VIRTUAL TABLE messages_fts USING fts5 (
    text, content = 'messages', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
);
-- New messages are indexed once per write transaction (store::search), not by a
-- per-row trigger: FTS5 flushes its pending terms at every statement inside a
-- trigger, which made indexing a quarter of the ingest writer's time. Messages with
-- id <= indexed_through are in messages_fts.
CREATE TABLE search_progress (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    indexed_through INTEGER NOT NULL
);
INSERT INTO search_progress (id, indexed_through) VALUES (1, 0);
-- Only indexed rows may be deleted from an external-content index.
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
WHEN old.text IS NOT NULL AND old.id <= (SELECT indexed_through FROM search_progress) BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;

-- The rows below are keyed by Meta's message id rather than our row id, because Meta
-- does not guarantee order: a receipt, reaction, edit or unsend may arrive before the
-- message it names, and must apply when that message shows up.

-- Delivery state of outbound messages; only ever moves forward (rank).
CREATE TABLE message_receipts (
    channel_id  INTEGER NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    external_id TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status = 'sent' OR status = 'delivered' OR status = 'read'
                                        OR status = 'played' OR status = 'failed'),
    rank        INTEGER NOT NULL,
    error_code  INTEGER,
    error_title TEXT,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (channel_id, external_id)
) WITHOUT ROWID;

-- Messenger receipts say "every outbound message up to this time": kept per customer,
-- not per conversation, because a receipt can arrive before the conversation exists.
CREATE TABLE receipt_watermarks (
    channel_id  INTEGER NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    contact     TEXT    NOT NULL,     -- the customer's external id
    delivered   INTEGER NOT NULL DEFAULT 0,
    read        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (channel_id, contact)
) WITHOUT ROWID;

-- Edits, newest num_edit wins; the original text stays on the message.
CREATE TABLE message_edits (
    channel_id  INTEGER NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    external_id TEXT    NOT NULL,
    num_edit    INTEGER NOT NULL,
    text        TEXT,
    edited_at   INTEGER NOT NULL,
    PRIMARY KEY (channel_id, external_id, num_edit)
) WITHOUT ROWID;

-- Unsent / deleted messages keep their row and gain a marker here.
CREATE TABLE message_deletions (
    channel_id  INTEGER NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    external_id TEXT    NOT NULL,
    deleted_at  INTEGER NOT NULL,
    PRIMARY KEY (channel_id, external_id)
) WITHOUT ROWID;

-- One reaction per reactor and message; the newest event (by Meta's time) wins.
CREATE TABLE reactions (
    channel_id  INTEGER NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    external_id TEXT    NOT NULL,     -- the message reacted to
    reactor     TEXT    NOT NULL,     -- external id of who reacted
    emoji       TEXT,
    reaction    TEXT,                 -- Messenger's name for it (love, like, ...)
    removed     INTEGER NOT NULL DEFAULT 0,
    reacted_at  INTEGER NOT NULL,
    PRIMARY KEY (channel_id, external_id, reactor)
) WITHOUT ROWID;

-- Media of a message, or a contact's profile picture. Bytes live on disk,
-- content-addressed: attachments/ab/cd/<sha256>.
CREATE TABLE attachments (
    id              INTEGER PRIMARY KEY,
    message_id      INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    kind            TEXT    NOT NULL CHECK (kind = 'image' OR kind = 'video' OR kind = 'audio'
                                            OR kind = 'file' OR kind = 'sticker'),
    source_url      TEXT,             -- Messenger/Instagram CDN URL
    media_id        TEXT,             -- WhatsApp media id
    filename        TEXT,
    mime_type       TEXT,
    size            INTEGER,
    sha256          TEXT,             -- hex, of the stored bytes
    expected_sha256 TEXT,             -- as Meta announced it (WhatsApp)
    status          TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (status = 'pending' OR status = 'stored' OR status = 'failed'
                           OR status = 'skipped'),
    error           TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (message_id, position)
);
CREATE INDEX attachments_by_sha256 ON attachments (sha256);

-- Every verified webhook body, exactly as received, written in the same transaction
-- as what it produced. Nothing acknowledged is ever lost, and replay can re-run it.
CREATE TABLE webhook_journal (
    id          INTEGER PRIMARY KEY,
    provider    TEXT    NOT NULL,
    received_at INTEGER NOT NULL,
    body        BLOB    NOT NULL,
    secret_used TEXT,                 -- which app secret verified it: 'current' / 'previous'
    outcome     TEXT    NOT NULL
                CHECK (outcome = 'processed' OR outcome = 'unmatched' OR outcome = 'ignored'
                       OR outcome = 'failed'),
    reason      TEXT,
    stored      INTEGER NOT NULL DEFAULT 0, -- rows created or changed
    unmatched   TEXT                -- JSON list of channel ids that matched no channel
);
CREATE INDEX webhook_journal_by_time ON webhook_journal (received_at);
CREATE INDEX webhook_journal_by_outcome ON webhook_journal (outcome, received_at);

-- Durable background work (profile fetches, attachment downloads).
CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY,
    kind         TEXT    NOT NULL CHECK (kind IN ('fetch_profile', 'download_attachment')),
    subject_id   INTEGER NOT NULL,  -- contact id / attachment id
    state        TEXT    NOT NULL DEFAULT 'queued'
                 CHECK (state = 'queued' OR state = 'running' OR state = 'done' OR state = 'failed'),
    attempts     INTEGER NOT NULL DEFAULT 0,
    run_at       INTEGER NOT NULL,
    locked_until INTEGER,
    last_error   TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    -- Why a failed job failed, as a code (store::job::FailureReason): metrics and
    -- doctor group by it, so rewording an error message changes no label.
    failure_reason TEXT
);
-- Per kind, so a claim can take downloads before profile fetches (store::job::claim)
-- without reading past a backlog of the other kind.
CREATE INDEX jobs_due ON jobs (state, kind, run_at);
-- At most one live job per subject: a burst of messages queues one profile fetch.
CREATE UNIQUE INDEX jobs_one_active ON jobs (kind, subject_id) WHERE state IN ('queued', 'running');

CREATE TABLE admins (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- Login sessions; only a hash of the cookie value is stored.
CREATE TABLE sessions (
    token_hash TEXT    PRIMARY KEY,
    admin_id   INTEGER NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Small values the server generates for itself (e.g. a verify token on first start).
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
