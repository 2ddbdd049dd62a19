//! qlog traces written to a directory (feature `qlog`).
//!
//! [`QlogDir`] is a ready-made [`QlogFactory`]: put it in
//! [`TransportConfig::qlog`](crate::TransportConfig) and every connection
//! made with that configuration writes its trace to
//! `<dir>/<odcid>_<client|server>.sqlog`, where `<odcid>` is the client's
//! original Destination Connection ID in hex — the same name on both ends
//! of a connection. The traces are qlog 0.3 in the JSON-SEQ format, which
//! qvis reads; [`tern_proto::qlog`] says what they contain.
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use tern::{TransportConfig, qlog::QlogDir};
//!
//! # fn main() -> std::io::Result<()> {
//! // As the quic-interop-runner asks: trace when QLOGDIR is set.
//! let mut transport = TransportConfig::default();
//! if let Some(dir) = QlogDir::from_env("QLOGDIR")? {
//!     transport.qlog = Some(Arc::new(dir));
//! }
//! # Ok(())
//! # }
//! ```

use std::{
    fs::File,
    io::{self, BufWriter, Write},
    path::{Path, PathBuf},
};

pub use tern_proto::qlog::QlogFactory;
use tern_proto::{ConnectionId, Side};

/// Writes each connection's qlog trace to a file of its own in one
/// directory, through a buffer that is flushed when the connection is
/// dropped.
///
/// A file that cannot be created is logged (`warn`) and the connection
/// runs untraced; a write that fails ends that trace, never the connection.
#[derive(Debug, Clone)]
pub struct QlogDir {
    dir: PathBuf,
}

impl QlogDir {
    /// Traces into `dir`, which is created (with its parents) if missing.
    ///
    /// # Errors
    /// The error of creating the directory.
    pub fn new(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    /// Traces into the directory named by the environment variable `var`
    /// (`QLOGDIR` for the quic-interop-runner); `None` when it is unset
    /// or empty.
    ///
    /// # Errors
    /// The error of creating the directory.
    pub fn from_env(var: &str) -> io::Result<Option<Self>> {
        match std::env::var_os(var) {
            Some(dir) if !dir.is_empty() => Self::new(dir).map(Some),
            _ => Ok(None),
        }
    }

    /// The directory the traces go to.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The file of the trace of `odcid` at `side`.
    #[must_use]
    pub fn file_path(&self, side: Side, odcid: &ConnectionId) -> PathBuf {
        let side = match side {
            Side::Client => "client",
            Side::Server => "server",
        };
        self.dir.join(format!("{odcid}_{side}.sqlog"))
    }
}

impl QlogFactory for QlogDir {
    fn create(&self, side: Side, odcid: &ConnectionId) -> Option<Box<dyn Write + Send>> {
        let path = self.file_path(side, odcid);
        match File::create(&path) {
            Ok(file) => Some(Box::new(BufWriter::new(file))),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "cannot create qlog file");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_go_to_one_file_per_connection_and_side() {
        let dir = std::env::temp_dir().join(format!("tern-qlog-unit-{}", std::process::id()));
        let qlog = QlogDir::new(dir.join("nested")).unwrap();
        let odcid = ConnectionId::new(&[0xde, 0xad, 0xbe, 0xef]).unwrap();
        let mut out = qlog.create(Side::Server, &odcid).unwrap();
        out.write_all(b"\x1e{}\n").unwrap();
        drop(out);
        let path = qlog.path().join("deadbeef_server.sqlog");
        assert_eq!(std::fs::read(&path).unwrap(), b"\x1e{}\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
