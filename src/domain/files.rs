//! Files that hold agent data or the audit trail are the daemon user's alone: directories
//! are created 0700 and files 0600 (on Unix; elsewhere the platform's defaults apply).

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// Creates `dir` (and its parents) if missing; a directory this creates is 0700.
///
/// # Errors
/// I/O errors.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Options that create a file 0600 (an existing file keeps its mode).
pub fn private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// Writes `contents` to a new (or truncated) 0600 file and syncs it.
///
/// # Errors
/// I/O errors.
pub fn write_private(path: &Path, contents: &[u8]) -> io::Result<File> {
    let mut f = private_options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    io::Write::write_all(&mut f, contents)?;
    f.sync_data()?;
    Ok(f)
}
