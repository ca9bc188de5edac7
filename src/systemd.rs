//! systemd integration without a library: `sd_notify` is one datagram to the socket
//! named in `NOTIFY_SOCKET`. Outside systemd every call is a no-op.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Sends a notification such as `READY=1`; returns whether systemd was told.
pub fn notify(state: &str) -> bool {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return false;
    };
    let Ok(sock) = UnixDatagram::unbound() else {
        return false;
    };
    // Called from async code: a full or stuck socket must drop the message, never
    // block a tokio worker (systemd reads these at once; a lost WATCHDOG=1 is resent).
    if sock.set_nonblocking(true).is_err() {
        return false;
    }
    let bytes = path.as_encoded_bytes();
    let sent = if let Some(name) = bytes.strip_prefix(b"@") {
        // Abstract socket namespace (systemd uses it in some setups).
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(name)
            .and_then(|addr| sock.send_to_addr(state.as_bytes(), &addr))
    } else {
        sock.send_to(state.as_bytes(), &path)
    };
    sent.is_ok()
}

/// The watchdog interval systemd asked for (`WatchdogSec=`), halved as sd_notify(3)
/// recommends.
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

/// Tells whether stdout is systemd's journal: `JOURNAL_STREAM` holds the device and
/// inode of that stream (systemd.exec(5)), so a redirected stdout does not count.
pub fn stdout_is_journal() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Some((dev, ino)) = std::env::var("JOURNAL_STREAM")
        .ok()
        .and_then(|v| v.split_once(':').map(|(d, i)| (d.to_owned(), i.to_owned())))
    else {
        return false;
    };
    let Ok(meta) = std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .and_then(|fd| std::fs::File::from(fd).metadata())
    else {
        return false;
    };
    dev.parse() == Ok(meta.dev()) && ino.parse() == Ok(meta.ino())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifies_a_listening_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        // The crate forbids `unsafe` (and so `set_var`): the child test process sends.
        run_child_with_socket(&path);
        let mut buf = [0u8; 32];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }

    fn run_child_with_socket(path: &std::path::Path) {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "systemd::tests::child_sends", "--nocapture"])
            .env("NOTIFY_SOCKET", path)
            .env("HELPSTACK_NOTIFY_CHILD", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    #[test]
    fn child_sends() {
        if std::env::var_os("HELPSTACK_NOTIFY_CHILD").is_some() {
            assert!(notify("READY=1"));
        }
    }

    /// A socket nobody reads fills up; with a blocking send the child would hang here.
    #[test]
    fn a_full_socket_drops_the_message_instead_of_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let _server = UnixDatagram::bind(&path).unwrap();
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "systemd::tests::child_floods", "--nocapture"])
            .env("NOTIFY_SOCKET", &path)
            .env("HELPSTACK_NOTIFY_CHILD", "1")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("notify blocked on a full socket");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success());
    }

    #[test]
    fn child_floods() {
        if std::env::var_os("HELPSTACK_NOTIFY_CHILD").is_some() {
            let sent = (0..10_000).filter(|_| notify("WATCHDOG=1")).count();
            assert!(sent < 10_000, "the socket never filled up");
        }
    }

    #[test]
    fn no_socket_no_op() {
        if std::env::var_os("NOTIFY_SOCKET").is_none() {
            assert!(!notify("READY=1"));
        }
    }
}
