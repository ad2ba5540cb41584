//! playhead's state folder: what it must remember across a crash and restart (today the
//! network-MIDI session table, see [`crate::sources::network::memory`]).
//!
//! `$PLAYHEAD_STATE_DIR` when set (tests), else `$XDG_STATE_HOME/playhead`, else
//! `~/.local/state/playhead`; made with mode 0700 on first use. Files in it are written
//! whole: a temporary file beside the target, then a rename, so a crash mid-write leaves the
//! old file or the new one, never half of one.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The state folder, or `None` when no home is known (then nothing is remembered).
pub fn path() -> Option<PathBuf> {
    let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = non_empty("PLAYHEAD_STATE_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(state) = non_empty("XDG_STATE_HOME").map(PathBuf::from) {
        // The base directory specification ignores relative paths.
        if state.is_absolute() {
            return Some(state.join("playhead"));
        }
    }
    non_empty("HOME").map(|home| PathBuf::from(home).join(".local/state/playhead"))
}

/// Makes `dir` (and its parents) if it is missing; a folder playhead makes is readable by its
/// user only.
pub fn ensure(dir: &Path) -> std::io::Result<()> {
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

/// Replaces the file at `path` with `bytes` at once (temporary file, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    ensure(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&temp)?;
        f.write_all(bytes)?;
        // No fsync: the file must survive the program's crash (the page cache does), and a
        // power cut only costs the DAW a re-invitation.
        drop(f);
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_replaced_whole_in_a_private_folder() {
        let base = std::env::temp_dir().join(format!("playhead-state-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let dir = base.join("a/b");
        let file = dir.join("x.json");
        write_atomic(&file, b"one").unwrap();
        write_atomic(&file, b"two").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");
        let _ = std::fs::remove_dir_all(&base);
    }
}
