//! Writes playhead's man pages and shell completions from its clap definitions, for the .deb.
//!
//! ```sh
//! cargo run --example gen-docs -- target/packaging/docs
//! ```
//!
//! Writes `man/playhead.1` (plus one page per subcommand) and `completions/playhead.bash`,
//! `_playhead` (zsh) and `playhead.fish`. `packaging/build-deb.sh` runs it before `cargo deb`.
//! It is an example rather than part of the program so that the shipped binary carries no
//! documentation generator.

use clap::CommandFactory;
use clap_complete::Shell;
use playhead::cli::Cli;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Sections clap does not know about, appended to playhead(1) in roff.
const EXTRA_SECTIONS: &str = r#".SH KEYS
Keys at the video machine, for when MIDI fails in the middle of a show:
.TP
\fBspace\fR
Play from the frame on screen, or hold the frame.
.TP
\fBHome\fR
Back to frame 0, paused and armed.
.TP
\fBf\fR
Fullscreen on or off (not with \fB\-\-kiosk\fR).
.TP
\fBq\fR, \fBEsc\fR
Quit (not with \fB\-\-kiosk\fR).
.SH ENVIRONMENT
.TP
\fBRUST_LOG\fR
How much is logged to standard error: \fBwarn\fR, \fBinfo\fR (the default) or \fBdebug\fR.
.TP
\fBDISPLAY\fR, \fBWAYLAND_DISPLAY\fR
The graphical session to draw on.
.SH FILES
.TP
\fI~/.config/playhead/show.playhead.toml\fR, \fI/etc/playhead/show.playhead.toml\fR
The show played when none is given, looked for in this order (in
\fI$XDG_CONFIG_HOME/playhead/\fR when that is set).
.TP
\fI/usr/share/doc/playhead/examples/example.playhead.toml\fR
A show file with every setting explained.
.TP
\fI/usr/share/playhead/demo.mp4\fR
The demo show, played when no show is given or found.
.TP
\fI/usr/lib/systemd/user/playhead.service\fR
The systemd user unit for a kiosk machine: starts \fBplayhead \-\-kiosk\fR with the graphical
session and restarts it within a second if it stops. Enable it for the show user with
\fBsystemctl \-\-user enable \-\-now playhead\fR.
.TP
\fI/usr/share/playhead/playhead\-autostart.desktop\fR
The same for desktops that do not start systemd's graphical\-session.target: copy it into
\fI~/.config/autostart/\fR.
.SH EXIT STATUS
0 when playhead was quit or finished normally, or \fB\-\-check\fR found the show ready; 1 on
an error, which is printed as one line on standard error, or when \fB\-\-check\fR found
something that would fail in the show; 2 on a mistake in the command line.
.SH EXAMPLES
.TP
\fBplayhead \-\-check\fR
Check the show playhead would play, before doors open.
.TP
\fBplayhead my\-show.playhead.toml\fR
Play a show file: its songs, selected by the DAW's Song Select or Program Change.
.TP
\fBplayhead \-\-screen 2 show.mp4\fR
Fullscreen on the second screen (the projector), waiting for the DAW.
.TP
\fBplayhead \-\-midi\-port rtpmidid show.mp4\fR
Listen only to the network\-MIDI daemon's ports.
.TP
\fBplayhead \-\-windowed show.mp4\fR
Rehearse in a window.
.SH SEE ALSO
\fBmpv\fR(1), \fBsystemctl\fR(1)
"#;

fn main() -> ExitCode {
    let Some(out) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: gen-docs OUTPUT_DIR");
        return ExitCode::from(2);
    };
    match generate(&out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen-docs: {e}");
            ExitCode::FAILURE
        }
    }
}

fn generate(out: &Path) -> Result<(), String> {
    let man_dir = out.join("man");
    let completions_dir = out.join("completions");
    for dir in [&man_dir, &completions_dir] {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }

    // The help subcommand has nothing to document beyond --help; without it the pages list
    // no page that does not exist.
    let mut cmd = Cli::command().disable_help_subcommand(true);
    // NAME reads "playhead - <about>": the about line need not repeat the name.
    if let Some(about) = cmd.get_about().map(|a| a.to_string()) {
        if let Some(rest) = about.strip_prefix("playhead: ") {
            cmd = cmd.about(rest.trim_end_matches('.').to_string());
        }
    }
    cmd.build();
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut page)
        .map_err(|e| e.to_string())?;
    page.extend_from_slice(EXTRA_SECTIONS.as_bytes());
    write(&man_dir.join("playhead.1"), &page)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("playhead-{}", sub.get_name());
        let mut page = Vec::new();
        // After build(), a subcommand's display name is "playhead-NAME": the page's title.
        clap_mangen::Man::new(sub.clone())
            .render(&mut page)
            .map_err(|e| e.to_string())?;
        write(&man_dir.join(format!("{name}.1")), &page)?;
    }

    for (shell, file) in [
        (Shell::Bash, "playhead.bash"),
        (Shell::Zsh, "_playhead"),
        (Shell::Fish, "playhead.fish"),
    ] {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut cmd, "playhead", &mut script);
        write(&completions_dir.join(file), &script)?;
    }
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
