//! Delivery receipts: per-message status (WhatsApp, Instagram) and per-customer
//! watermarks (Messenger's "everything up to this time").

use rusqlite::{Connection, params};

use super::Result;
use crate::model::DeliveryStatus;

/// A status report for one message by Meta's id.
#[derive(Debug, Clone, Copy)]
pub struct Report<'a> {
    pub status: DeliveryStatus,
    pub error_code: Option<i64>,
    pub error_title: Option<&'a str>,
    pub at: i64,
}

/// Records a status for a message (which may not be stored yet); a status only ever
/// moves forward by rank. Returns whether it changed anything.
pub fn advance(conn: &Connection, channel_id: i64, external_id: &str, r: &Report) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "INSERT INTO message_receipts (channel_id, external_id, status, rank, error_code, error_title, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (channel_id, external_id) DO UPDATE SET
                status = excluded.status, rank = excluded.rank, error_code = excluded.error_code,
                error_title = excluded.error_title, updated_at = excluded.updated_at
             WHERE excluded.rank > message_receipts.rank",
        )?
        .execute(params![
            channel_id,
            external_id,
            r.status.as_str(),
            r.status.rank(),
            r.error_code,
            r.error_title,
            r.at
        ])?;
    Ok(n > 0)
}

/// Moves a customer's (delivered, read) watermarks forward; 0 leaves one as it is.
/// Kept per customer, so a receipt that arrives before the conversation exists still
/// applies to it later. Returns whether either moved.
pub fn advance_watermark(
    conn: &Connection,
    channel_id: i64,
    contact: &str,
    delivered: i64,
    read: i64,
) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "INSERT INTO receipt_watermarks (channel_id, contact, delivered, read)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (channel_id, contact) DO UPDATE SET
                delivered = MAX(delivered, excluded.delivered), read = MAX(read, excluded.read)
             WHERE excluded.delivered > delivered OR excluded.read > read",
        )?
        .execute(params![channel_id, contact, delivered, read])?;
    Ok(n > 0)
}
