//! The model's enums as SQLite text: stored by their `as_str` name, read back with
//! `parse`. A name the binary does not know is a read error, never a silent default.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use super::attachment::AttachmentStatus;
use super::job::{FailureReason, JobKind};
use crate::model::{ConversationStatus, DeliveryStatus, Direction, MessageKind, Provider};

macro_rules! text_enum {
    ($($t:ty),* $(,)?) => {$(
        impl ToSql for $t {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $t {
            fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
                let s = v.as_str()?;
                <$t>::parse(s).ok_or_else(|| {
                    FromSqlError::Other(
                        format!("unknown {} {s:?}", stringify!($t)).into(),
                    )
                })
            }
        }
    )*};
}

text_enum!(
    Provider,
    Direction,
    MessageKind,
    DeliveryStatus,
    ConversationStatus,
    AttachmentStatus,
    JobKind,
    FailureReason,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_and_unknown_names_are_errors() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for k in MessageKind::ALL {
            let back: MessageKind = conn.query_row("SELECT ?1", [k], |r| r.get(0)).unwrap();
            assert_eq!(back, k);
        }
        let bad = conn.query_row("SELECT 'telegram'", [], |r| r.get::<_, Provider>(0));
        assert!(bad.is_err(), "{bad:?}");
    }
}
