//! What the player tells: the status for the remote page and OSC, the operator's overlay, the
//! status line in the log, and changes of sync said once.

use super::*;

impl Player {
    /// Publishes the status at once when what the operator sees at a glance changed, else a
    /// few times a second.
    pub(super) fn publish_status(&mut self, now: Instant) {
        let key = (
            self.transport.state(),
            self.current,
            self.cover.black(),
            self.cover.idle_shown(),
            self.last_event.as_ref().map(|(_, at)| *at),
        );
        if self.published_key == Some(key)
            && now.duration_since(self.last_publish) < PUBLISH_INTERVAL
        {
            return;
        }
        self.published_key = Some(key);
        self.last_publish = now;
        self.board.publish(self.snapshot());
    }

    /// The status as the remote shows it.
    pub(super) fn snapshot(&self) -> StatusSnapshot {
        let song_ref = |i: usize| SongRef {
            index: i + 1,
            title: self.show.songs[i].title.clone(),
        };
        let mut warnings: Vec<String> = (0..self.song_failed.len())
            .filter_map(|i| {
                self.song_failed[i].as_ref().map(|why| {
                    format!(
                        "song {} '{}' cannot play: {why}",
                        i + 1,
                        self.show.songs[i].title
                    )
                })
            })
            .collect();
        warnings.extend(self.media_warnings.iter().cloned());
        if self.clocks_folded > 0 {
            warnings.push(format!(
                "{} clock ticks folded (the player fell behind)",
                self.clocks_folded
            ));
        }
        let bar_beat = self.transport.bar_beat();
        StatusSnapshot {
            show: self.show.name.clone(),
            state: match self.transport.state() {
                State::Armed => "armed",
                State::Playing => "playing",
                State::Stopped => "stopped",
            },
            song: song_ref(self.current),
            song_error: self.song_failed[self.current].clone(),
            setlist: (0..self.show.songs.len()).map(song_ref).collect(),
            position_s: self.position_s,
            bar: bar_beat.map(|b| b.bar),
            beat: bar_beat.map(|b| b.beat),
            // The leading sync source (LTC, MTC or MIDI clock; Link arrives as MIDI clock).
            sync_reference: self.transport.reference().map_or("none", |r| r.label()),
            sync_state: self.transport.lock_state().map(|s| s.label()),
            tempo_bpm: self.transport.tempo_bpm(),
            sync_error_ms: self.transport.sync_error_s().map(|e| e * 1000.0),
            source: self.last_source.clone(),
            last_message: self.last_event.as_ref().map(|(what, _)| what.clone()),
            last_message_age_s: self
                .last_event
                .as_ref()
                .map(|(_, at)| at.elapsed().as_secs_f64()),
            black: self.cover.black(),
            idle: self.cover.idle_shown(),
            warnings,
            rigs: self.arbiter.status(clock::stamp(clock::now())),
            offset_ms: self.options.chase.offset_s * 1000.0,
            outputs: self.outputs_status(),
        }
    }

    /// Each output: its settings, what it shows of the selected song, whether it presents.
    fn outputs_status(&self) -> Vec<status::OutputStatus> {
        let song = &self.show.songs[self.current];
        self.show
            .outputs
            .iter()
            .enumerate()
            .map(|(i, o)| status::OutputStatus {
                name: o.name.clone(),
                monitor: o.monitor.as_ref().map(|m| m.to_string()),
                offset_ms: o.offset_ms.unwrap_or(self.options.chase.offset_s * 1000.0),
                crop: o.crop.map(|c| [c.x, c.y, c.width, c.height]),
                video: if song.per_output.is_empty() {
                    Some(song.video.display().to_string())
                } else {
                    song.per_output
                        .iter()
                        .find(|(n, _)| *n == o.name)
                        .map(|(_, f)| f.display().to_string())
                },
                state: if self.stage.output_held(i, Duration::from_secs(1)) {
                    "held"
                } else {
                    "presenting"
                },
            })
            .collect()
    }

    /// What the operator needs to know, one item per entry.
    pub fn status(&self) -> Vec<String> {
        let mut items = vec![format!(
            "song {}/{} '{}'",
            self.current + 1,
            self.show.songs.len(),
            self.show.songs[self.current].title
        )];
        items.push(match self.transport.mode() {
            FollowMode::Chase => "chase".into(),
            FollowMode::Start => "start".into(),
        });
        items.push(
            match self.transport.state() {
                State::Armed => "armed",
                State::Playing => "playing",
                State::Stopped => "stopped",
            }
            .into(),
        );
        if let Some(pos) = self.position_s {
            let total_ms = (pos.max(0.0) * 1000.0).round() as u64;
            items.push(format!(
                "video {:02}:{:02}:{:02}.{:03}",
                total_ms / 3_600_000,
                total_ms / 60_000 % 60,
                total_ms / 1000 % 60,
                total_ms % 1000
            ));
        }
        if let Some(at) = self.transport.bar_beat() {
            items.push(format!("song bar {} beat {}", at.bar, at.beat));
        }
        if let Some(bpm) = self.transport.tempo_bpm() {
            items.push(format!("{bpm:.1} BPM"));
        }
        if let Some(state) = self.transport.lock_state() {
            let error = self
                .transport
                .sync_error_s()
                .map(|e| format!(" {:+.1} ms", e * 1000.0))
                .unwrap_or_default();
            let source = self
                .transport
                .reference()
                .map(|r| format!(" ({})", r.label()))
                .unwrap_or_default();
            items.push(format!("sync {}{source}{error}", state.label()));
        }
        if let Some(r) = self.arbiter.status(clock::stamp(clock::now())) {
            let rig = |s: &crate::arbiter::RigStatus| {
                let state = match (s.heard, s.playing) {
                    (false, _) => "not heard".to_string(),
                    (true, true) => "playing".to_string(),
                    (true, false) => "stopped".to_string(),
                };
                let offset = s
                    .offset_ms
                    .map(|o| format!(" {o:+.1} ms"))
                    .unwrap_or_default();
                format!("{} {state}{offset}", s.name)
            };
            items.push(format!(
                "{} rig leads | main: {} | backup: {}{}",
                r.leading.label().to_uppercase(),
                rig(&r.main),
                rig(&r.backup),
                if r.failovers > 0 {
                    format!(" | {} failover(s)", r.failovers)
                } else {
                    String::new()
                }
            ));
        }
        if self.clocks_folded > 0 {
            items.push(format!(
                "{} clock ticks folded (player behind)",
                self.clocks_folded
            ));
        }
        if let Some(why) = &self.song_failed[self.current] {
            items.push(format!("CANNOT PLAY: {why}"));
        }
        for w in &self.media_warnings {
            items.push(format!("WARNING: {w}"));
        }
        match &self.last_event {
            Some((what, at)) => items.push(format!(
                "last: {what}, {:.1} s ago",
                at.elapsed().as_secs_f64()
            )),
            None => items.push("no transport message yet".into()),
        }
        items
    }

    /// Draws (or removes) the operator's status overlay on the picture.
    pub(super) fn refresh_overlay(&mut self) {
        self.last_overlay = clock::now();
        let result = if self.overlay_shown {
            let text = self
                .status()
                .iter()
                .map(|s| s.replace(['{', '}', '\\'], ""))
                .collect::<Vec<_>>()
                .join("\\N");
            let style = "\\fs22\\bord2\\1c&HFFFFFF&\\3c&H000000&";
            // With outputs the picture is the song's files side by side, each output showing
            // a part of it: the status goes at the top left of every output's part.
            let events = match self.stage.views(self.stage.shown()) {
                Some(v) if v.views.len() > 1 => {
                    let (cw, ch) = (f64::from(v.size.0), f64::from(v.size.1));
                    // The overlay's canvas: 720 high, as wide as the picture's shape.
                    let res_x = 720.0 * cw / ch;
                    let mut corners: Vec<(i64, i64)> = Vec::new();
                    // Past the output's edge blend, where its picture is whole.
                    for (r, b) in v
                        .views
                        .iter()
                        .filter_map(|view| Some((view.source?, view.blend)))
                    {
                        let x = (f64::from(r.x + b.left) / cw * res_x).round() as i64 + 10;
                        let y = (f64::from(r.y + b.top) / ch * 720.0).round() as i64 + 10;
                        if !corners.contains(&(x, y)) {
                            corners.push((x, y));
                        }
                    }
                    corners
                        .iter()
                        .map(|(x, y)| format!("{{\\an7\\pos({x},{y}){style}}}{text}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                }
                _ => format!("{{\\an7{style}}}{text}"),
            };
            self.mpv().command_async(&[
                "osd-overlay",
                OVERLAY_STATUS,
                "ass-events",
                &events,
                "0",
                "720",
                "10",
            ])
        } else {
            self.mpv()
                .command_async(&["osd-overlay", OVERLAY_STATUS, "none", ""])
        };
        if let Err(e) = result {
            warn!("could not draw the status overlay: {e}");
        }
    }

    /// Tells the operator when the sync changes: locked, correcting, clock lost, relocked.
    pub(super) fn report_sync_changes(&mut self) {
        let now = self.transport.lock_state();
        if now == self.lock_state {
            return;
        }
        if let Some(state) = now {
            let error = self
                .transport
                .sync_error_s()
                .map(|e| format!(", error {:+.1} ms", e * 1000.0))
                .unwrap_or_default();
            let tempo = self
                .transport
                .tempo_bpm()
                .map(|b| format!(", {b:.2} BPM"))
                .unwrap_or_default();
            match state {
                LockState::FreeRunning => warn!(
                    "sync: {}: no clock or timecode from the DAW; the video plays on and locks again when it returns",
                    state.label()
                ),
                LockState::Waiting | LockState::Seeking => debug!("sync: {}", state.label()),
                _ => info!("sync: {}{tempo}{error}", state.label()),
            }
        }
        self.lock_state = now;
    }
}
