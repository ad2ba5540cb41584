//! The decks' mpv cores: how they are made, the files they open, and what mpv says back (its
//! events: a file loaded or ended, a seek done, a frame rate, a decoding error).

use super::*;

/// How many warnings about the media the status keeps (the latest).
const MEDIA_WARNINGS_KEPT: usize = 8;

/// Whether an mpv log message says that the song's video could not be read or decoded (and
/// not, say, something about the screen): mpv's own decoder and demuxer messages, from the core
/// whose file it is (`own_deck`). FFmpeg's are left out: they reach one core of the process,
/// whichever, so they do not say which file.
pub(super) fn is_media_error(prefix: &str, level: &str, text: &str, own_deck: bool) -> bool {
    let error = matches!(level, "fatal" | "error") || text.contains("rror");
    own_deck && error && matches!(prefix, "vd" | "lavf" | "demux")
}

/// mpv's error code for a file with no stream it can play (`MPV_ERROR_NOTHING_TO_PLAY`).
const MPV_ERROR_NOTHING_TO_PLAY: i32 = -16;

/// What every mpv core of playhead's is set to, the show's and the preflight's probes alike:
/// no user configuration, scripts, on-screen controller or subtitles; opened paused, with exact
/// seeks, and holding the last frame at the end.
pub const CORE_OPTIONS: [(&str, &str); 10] = [
    ("config", "no"),
    ("terminal", "no"),
    ("load-scripts", "no"),
    ("osc", "no"),
    ("ytdl", "no"),
    ("sub", "no"),
    ("idle", "yes"),
    ("keep-open", "yes"),
    ("pause", "yes"),
    ("hr-seek", "yes"),
];

/// Creates the mpv core set up for a show: [`CORE_OPTIONS`], drawing through the render API
/// only, keys left to the window.
pub fn create_mpv(options: &PlayerOptions) -> Result<(Mpv, Events), MpvError> {
    let audio = if options.audio { "auto" } else { "no" };
    let mut settings = CORE_OPTIONS.to_vec();
    settings.extend([
        ("input-default-bindings", "no"),
        ("input-vo-keyboard", "no"),
        ("vo", "libmpv"),
        // The render API must not hold back a frame to time it: we draw when told.
        ("video-timing-offset", "0"),
        ("hwdec", &options.hwdec),
        ("audio", audio),
        // A still image as a song (or idle content) is held for as long as it is shown.
        ("image-display-duration", "inf"),
    ]);
    let (mpv, events) = Mpv::new(&settings)?;
    mpv.request_log_messages(&std::env::var("PLAYHEAD_MPV_LOG").unwrap_or_else(|_| "warn".into()))?;
    Ok((mpv, events))
}

/// Checks before anything starts that the video can at least be opened, so a typo in a path
/// gives a message at once.
pub fn check_video_file(path: &Path) -> Result<(), String> {
    match std::fs::File::open(path) {
        Ok(f) => match f.metadata() {
            Ok(m) if m.is_dir() => Err(format!(
                "video '{}' is a folder, not a file: give the path of the video file",
                path.display()
            )),
            _ => Ok(()),
        },
        Err(e) => Err(format!(
            "cannot open video '{}': {}; check the path and that the file is readable",
            path.display(),
            e
        )),
    }
}

/// The sizes of the video tracks mpv opened for a file, the file's own first and then the
/// files added beside it, in their order.
fn video_track_sizes(mpv: &Mpv) -> (Option<Size>, Vec<Size>) {
    let count = mpv.get_int("track-list/count").unwrap_or(0).clamp(0, 64);
    let mut own = None;
    let mut added = Vec::new();
    for t in 0..count {
        let get = |k: &str| mpv.get_string(&format!("track-list/{t}/{k}"));
        if get("type").ok().as_deref() != Some("video") {
            continue;
        }
        let int = |k: &str| mpv.get_int(&format!("track-list/{t}/{k}")).unwrap_or(0);
        let (w, h) = (int("demux-w"), int("demux-h"));
        let size = (
            u32::try_from(w).unwrap_or(0).max(1),
            u32::try_from(h).unwrap_or(0).max(1),
        );
        if get("external").ok().as_deref() == Some("yes") {
            added.push(size);
        } else if own.is_none() {
            own = Some(size);
        }
    }
    (own, added)
}

/// Creates the show's decks: one mpv core for each song of the preload window (see
/// `decks::deck_count`). The player loads the songs of the window into them, held on the
/// first frame, so switching to one shows the new picture at once; as the window moves along
/// the setlist, the decks are reused for the songs entering it.
pub fn create_decks(show: &Show, options: &PlayerOptions) -> Result<Vec<(Mpv, Events)>, String> {
    decks::keep_frames_in_own_mappings();
    // One more for the idle content, when the show has any: it loops while the songs' decks
    // stay armed.
    let idle = usize::from(show.songs.iter().any(|s| s.idle.is_some()));
    (0..deck_count(show) + idle)
        .map(|_| create_mpv(options).map_err(|e| e.to_string()))
        .collect()
}

impl Player {
    /// Deck `deck` has opened song `song`'s files: each has a video track, and (with
    /// `[[output]]`s) the outputs' views of its picture are set from their sizes. An error
    /// says which file has no picture, or which output's crop does not fit its file.
    fn outputs_views(&mut self, deck: usize, song: usize) -> Result<(), String> {
        let Some(media) = self.decks[deck].media().cloned() else {
            return Ok(());
        };
        let mpv = &self.decks[deck].mpv;
        let (own, added) = video_track_sizes(mpv);
        if media.complex.is_none() {
            match mpv.get_string("vid") {
                Ok(v) if v != "no" && !v.is_empty() => {}
                _ => return Err(Self::no_video_track(&media.video)),
            }
        }
        let Some(own) = own else {
            return Err(Self::no_video_track(&media.video));
        };
        if let Some(missing) = media.extra.get(added.len()) {
            return Err(Self::no_video_track(missing));
        }
        let mut sizes: Vec<(u32, u32)> = std::iter::once(own).chain(added).collect();
        if self.show.outputs.is_empty() {
            return Ok(());
        }
        let song_ref = &self.show.songs[song];
        let names: Vec<String> = self.show.outputs.iter().map(|o| o.name.clone()).collect();
        let composite = crate::outputs::Composite::of(&song_ref.outputs_video(), &names);
        // The test card is drawn whole on every output, whatever their crops.
        let whole: Vec<crate::outputs::Output>;
        let outputs = if song_ref.test_card {
            whole = self
                .show
                .outputs
                .iter()
                .map(|o| crate::outputs::Output {
                    crop: None,
                    ..o.clone()
                })
                .collect();
            &whole
        } else {
            &self.show.outputs
        };
        if song_ref.test_card {
            // The card's stream is a tiny placeholder its filter draws the card over.
            sizes = vec![(
                playhead_core::test_card::WIDTH,
                playhead_core::test_card::HEIGHT,
            )];
        }
        let views = crate::outputs::views(&composite, &sizes, outputs)?;
        let size = (
            sizes.iter().map(|s| s.0).sum::<u32>().max(1),
            sizes.iter().map(|s| s.1).max().unwrap_or(1).max(1),
        );
        self.stage.set_views(deck, Some(DeckViews { size, views }));
        Ok(())
    }

    /// The song's video reached its end while playing: its last frame holds. Where the
    /// container says the video goes on, the file is cut short or damaged (the picture froze
    /// before the song's end): a warning for the operator, on every screen they look at.
    pub(super) fn video_ended(&mut self, d: usize) {
        let early = |t: f64, of: f64| t < of - crate::preflight::END_TOLERANCE_S;
        let (song, deck) = (self.current, &self.decks[d]);
        let video = self.show.songs[song].video.display();
        let title = &self.show.songs[song].title;
        let text = match (self.position_s, deck.duration_s, deck.sought_s) {
            // Played up to a frame, and no further.
            (Some(at_s), Some(of_s), _) if early(at_s, of_s) => format!(
                "song {} '{title}': video '{video}' ended at {at_s:.1} s of its {of_s:.1} s: \
                 the file is cut short or damaged, its last frame is held. Run playhead \
                 --check; copy the file again, or re-encode it",
                song + 1,
            ),
            // Sent to a place with nothing to decode: mpv stands at the container's end.
            (Some(at_s), Some(of_s), Some(sought_s))
                if at_s >= of_s - 1e-3 && early(sought_s, of_s) =>
            {
                format!(
                    "song {} '{title}': video '{video}' has no picture at {sought_s:.1} s of \
                     its {of_s:.1} s: the file is cut short or damaged, the picture is held. \
                     Run playhead --check; copy the file again, or re-encode it",
                    song + 1,
                )
            }
            _ => {
                info!("the video ended; holding its last frame until the DAW stops or locates");
                return;
            }
        };
        self.media_warning(text);
    }

    /// mpv could not read or decode the song's video while it played: the picture freezes or
    /// breaks up there. A warning for the operator, once per song until it is selected again.
    fn decoding_failed(&mut self, mpv_says: &str) {
        if self.transport.state() != State::Playing || self.decode_warned == Some(self.current) {
            return;
        }
        self.decode_warned = Some(self.current);
        let song = self.current;
        let of = self.decks[self.deck]
            .duration_s
            .map(|d| format!(" of its {d:.1} s"))
            .unwrap_or_default();
        let at = self
            .position_s
            .map(|p| format!(" at {p:.1} s{of}"))
            .unwrap_or_else(|| format!(" (a video{of})"));
        let text = format!(
            "song {} '{}': video '{}' stopped decoding{at} ({}): the file is damaged. Run \
             playhead --check; copy the file again, or re-encode it",
            song + 1,
            self.show.songs[song].title,
            self.show.songs[song].video.display(),
            mpv_says.trim()
        );
        self.media_warning(text);
    }

    /// Tells the operator about a problem with the media: the log (WARN), the status page,
    /// the overlay and a notice.
    fn media_warning(&mut self, text: String) {
        warn!("{text}");
        if !self.media_warnings.contains(&text) {
            if self.media_warnings.len() >= MEDIA_WARNINGS_KEPT {
                self.media_warnings.remove(0);
            }
            self.media_warnings.push(text.clone());
        }
        (self.notify)(Notice::Warning(text));
        self.refresh_overlay();
        // Published now, not at the next interval: the operator needs it at once.
        self.published_key = None;
    }

    /// Handles every queued event of every deck; false when mpv shut down.
    pub(super) fn drain_mpv_events(&mut self) -> bool {
        let mut failures = false;
        let mut ended = None;
        for i in 0..self.decks.len() {
            while let Some(ev) = self.decks[i].events.wait(0.0) {
                // The song this deck holds; events of a deck that holds none are only the
                // ends of files it unloaded.
                let song = self.decks[i].song;
                if Some(i) == self.idle_deck {
                    match ev {
                        Event::Shutdown => return false,
                        Event::EndFile(EndReason::Error(code)) => {
                            let path = self.idle_loaded.take();
                            error!(
                                "the idle content '{}' cannot play: {}; the song's picture is \
                                 shown instead",
                                path.as_deref().unwrap_or(Path::new("")).display(),
                                crate::mpv::error_string(code)
                            );
                            self.idle_broken = path;
                            // Never a blank screen: back to the song, armed as it was (not
                            // the song before's picture, though: black over it then).
                            let failed = self.song_failed[self.current].is_some();
                            let steps = self.cover.idle_broken(self.deck, failed);
                            self.cover_steps(steps);
                        }
                        Event::Log { prefix, text, .. } => warn!("mpv (idle) {prefix}: {text}"),
                        _ => {}
                    }
                    continue;
                }
                match ev {
                    Event::Shutdown => return false,
                    Event::RequestFailed(code) => {
                        error!(
                            "mpv could not carry out a command: {}",
                            crate::mpv::error_string(code)
                        );
                    }
                    Event::Log {
                        prefix,
                        level,
                        text,
                    } => {
                        match level.as_str() {
                            "fatal" | "error" => error!("mpv {prefix}: {text}"),
                            _ => warn!("mpv {prefix}: {text}"),
                        }
                        if is_media_error(&prefix, &level, &text, i == self.deck) {
                            self.decoding_failed(&text);
                        }
                    }
                    Event::EndFile(_) | Event::Idle if !self.decks[i].current_file() => {
                        // The file being unloaded ended: a song waiting for the deck loads.
                        failures |= self.unload_done(i);
                    }
                    Event::FileLoaded if self.decks[i].current_file() => {
                        let Some(s) = song else { continue };
                        let deck = &mut self.decks[i];
                        deck.loaded = true;
                        if let Err(e) = self.outputs_views(i, s) {
                            self.song_failed[s] = Some(e);
                            self.decks[i].loaded = false;
                            failures = true;
                        }
                    }
                    Event::EndFile(EndReason::Error(code)) if self.decks[i].current_file() => {
                        let Some(s) = song else { continue };
                        let video = &self.show.songs[s].video;
                        let shown = video.display();
                        self.song_failed[s] = Some(match code {
                            // Gone, or unreadable: said as such, not as a decoding problem.
                            _ if check_video_file(video).is_err() => {
                                check_video_file(video).err().unwrap_or_default()
                            }
                            MPV_ERROR_NOTHING_TO_PLAY => Self::no_video_track(video),
                            _ => format!(
                                "cannot play video '{shown}': {}; is it a video file mpv can decode? Try it with 'mpv {shown}'",
                                crate::mpv::error_string(code),
                            ),
                        });
                        self.decks[i].loaded = false;
                        failures = true;
                    }
                    Event::PlaybackRestart
                        if self.decks[i].current_file()
                            && self.decks[i].loaded
                            && !self.decks[i].ready
                            && song.is_some_and(|s| self.song_failed[s].is_none()) =>
                    {
                        let Some(s) = song else { continue };
                        self.decks[i].ready = true;
                        // A seek to where it stands, unseen, measures how long this deck's
                        // seeks take before the first start needs to know.
                        let deck = &mut self.decks[i];
                        if deck
                            .mpv
                            .command_async(&["seek", "0", "absolute+exact"])
                            .is_ok()
                        {
                            deck.seeks.sent(clock::stamp(clock::now()));
                        }
                        let since_start_ms = clock::seconds_since_start(clock::now()) * 1000.0;
                        let title = &self.show.songs[s].title;
                        if i == self.deck && self.stage.shown() != i {
                            let took = self
                                .selected_unloaded_at
                                .take()
                                .map_or(Duration::ZERO, |t| t.elapsed());
                            info!(
                                "song {} '{title}' was not preloaded: its first frame is on \
                                 screen {:.0} ms after it was selected",
                                s + 1,
                                took.as_secs_f64() * 1000.0
                            );
                            (self.notify)(Notice::LoadedOnDemand { song: s, took });
                            self.show_current();
                            self.refresh_overlay();
                        } else if i == self.deck {
                            self.announce_ready();
                        } else {
                            info!(
                                "song {} '{title}' preloaded on its first frame \
                                 ({since_start_ms:.0} ms after start)",
                                s + 1
                            );
                            (self.notify)(Notice::Preloaded { song: s });
                        }
                    }
                    Event::PropertyChange {
                        id: OBSERVE_TIME_POS,
                        value: PropertyValue::Double(position_s),
                        ..
                    } if i == self.deck => {
                        self.position_s = Some(position_s);
                        if self.timed.is_some() || self.waiting.is_some() {
                            // Paused on purpose until the frame is due: nothing to correct.
                            continue;
                        }
                        if let Some(from_s) = self.started_from_s {
                            if position_s <= from_s + 1e-3 {
                                continue;
                            }
                            self.started_from_s = None;
                        }
                        let now = clock::now();
                        // mpv moves `time-pos` when it hands the frame to the screen, which
                        // presents it when due: that much later. Never more than a frame
                        // later: mpv hands a frame over only once the one before it is shown,
                        // so at 60 frames a second with a 25 ms offset (a software renderer at
                        // 720p) each frame comes 16 ms ahead, not 25 (taking 25 had the drift
                        // correction speed a correct picture up to 5 ms early).
                        // Less what the screens take off mpv's times to keep a timed
                        // start's run on its plan (see `crate::screen::retime`): mpv hands
                        // a frame over once the one before it is shown, on the plan, that
                        // much earlier.
                        let Some(shift) =
                            self.stage.shift(i, self.decks[i].mpv.runs(), clock::now())
                        else {
                            // The run's first frame has yet to reach a screen.
                            continue;
                        };
                        let shift_s = shift.as_secs_f64();
                        let ahead_s = match self.decks[i].frame_s {
                            Some(frame_s) => self.decks[i].ahead_s.min(frame_s + shift_s),
                            None => self.decks[i].ahead_s,
                        };
                        let on_screen = (now + Duration::from_secs_f64(ahead_s))
                            .checked_sub(shift)
                            .unwrap_or(now);
                        let cue = self
                            .transport
                            .on_video_position(clock::stamp(on_screen), position_s);
                        if let Some(cue) = cue {
                            self.apply(cue, now, "drift correction");
                        }
                    }
                    Event::PlaybackRestart if self.decks[i].ready => {
                        if let Some(took) =
                            self.decks[i].seeks.restarted(clock::stamp(clock::now()))
                        {
                            debug!(
                                "deck {}: a seek took {:.1} ms (seeks start {:.1} ms ahead)",
                                i + 1,
                                took.as_secs_f64() * 1000.0,
                                self.decks[i].seeks.lead().as_secs_f64() * 1000.0
                            );
                        }
                        if self.waiting.as_ref().is_some_and(|w| w.deck == i) {
                            self.resume_waiting();
                        }
                        if let Some(t) = self.timed.as_mut().filter(|t| t.deck == i) {
                            // The timed start's seek is done, whether or not a screen told
                            // its frame apart (see `run_timed`).
                            if t.run.sought_at.is_some() {
                                t.restarted_at.get_or_insert_with(clock::now);
                            }
                        }
                    }
                    Event::PropertyChange {
                        id: OBSERVE_TIMING_OFFSET,
                        value: PropertyValue::Double(offset_s),
                        ..
                    } => {
                        self.decks[i].ahead_s = offset_s.clamp(0.0, 1.0);
                    }
                    Event::PropertyChange {
                        id: OBSERVE_FPS,
                        value: PropertyValue::Double(fps),
                        ..
                    } if fps.is_finite() && fps > 1.0 => {
                        self.decks[i].frame_s = Some(1.0 / fps);
                    }
                    Event::PropertyChange {
                        id: OBSERVE_DURATION,
                        value,
                        ..
                    } => {
                        self.decks[i].duration_s = match value {
                            PropertyValue::Double(d) if d.is_finite() && d > 0.0 => Some(d),
                            _ => None,
                        };
                    }
                    Event::PropertyChange {
                        id: OBSERVE_EOF,
                        value: PropertyValue::Flag(at_end),
                        ..
                    } => {
                        self.decks[i].at_end = at_end;
                        if at_end && i == self.deck && self.transport.state() == State::Playing {
                            // Once the events queued with it are in: its last position among
                            // them.
                            ended = Some(i);
                        }
                    }
                    _ => {}
                }
            }
        }
        if let Some(d) = ended.filter(|&d| d == self.deck) {
            self.video_ended(d);
        }
        if failures {
            self.check_failures();
        }
        true
    }
}
