//! Events about an existing message: delivery and read receipts, reactions and edits.

use serde_json::Value;

use super::{Ctx, Envelope, customer};
use crate::model::{DeliveryStatus, EventKind, Reaction, Receipt, timestamp_ms};
use crate::webhook::json::{id_str, int_value, items, text_str};

pub(super) fn receipt(
    ctx: &Ctx,
    env: &Envelope,
    body: &Value,
    status: DeliveryStatus,
) -> Result<EventKind, String> {
    let name = status.as_str();
    let contact = customer(ctx, env).ok_or_else(|| format!("{name} receipt without sender"))?;
    let mut targets: Vec<String> = items(body.get("mids"))
        .iter()
        .filter_map(|m| id_str(Some(m)))
        .collect();
    targets.extend(id_str(body.get("mid")));
    let watermark_ms = body.get("watermark").and_then(timestamp_ms);
    if targets.is_empty() && watermark_ms.is_none() {
        return Err(format!("{name} receipt without mids or watermark ignored"));
    }
    Ok(EventKind::Receipt(Receipt {
        contact,
        status,
        targets,
        watermark_ms,
        error_code: None,
        error_title: None,
    }))
}

pub(super) fn reaction(ctx: &Ctx, env: &Envelope, body: &Value) -> Result<EventKind, String> {
    let target = id_str(body.get("mid")).ok_or("reaction without mid skipped")?;
    let reactor = env
        .sender
        .clone()
        .ok_or("reaction without sender skipped")?;
    let contact = customer(ctx, env).unwrap_or_else(|| reactor.clone());
    Ok(EventKind::Reaction(Reaction {
        target,
        reactor,
        contact,
        emoji: text_str(body.get("emoji")),
        reaction: text_str(body.get("reaction")),
        removed: body.get("action").and_then(Value::as_str) == Some("unreact"),
    }))
}

pub(super) fn edit(body: &Value) -> Result<EventKind, String> {
    let target = id_str(body.get("mid")).ok_or("message_edit without mid skipped")?;
    Ok(EventKind::Edit {
        target,
        text: body.get("text").and_then(Value::as_str).map(str::to_owned),
        num_edit: int_value(body.get("num_edit")).unwrap_or(1),
    })
}
