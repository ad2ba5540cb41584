//! The setlist on the decks: selecting a song, a song that cannot play, the preload window,
//! the black and the idle content over the picture, the test card. The decisions are the
//! core's [`crate::setlist`] ([`setlist::Pool`], [`setlist::Cover`]); this carries them out.

use super::*;

impl Player {
    /// Switches to song `i`. A preloaded song's first frame is already decoded, so it is on
    /// screen at once; another song is loaded now, and the picture on screen stays until its
    /// first frame is ready. The transport follows the new song at once either way.
    pub(super) fn select(&mut self, i: usize, what: &str) {
        // A Stop's frame belongs to the song it stopped.
        self.stage.unfence();
        self.stops.moved_on();
        let title = self.show.songs[i].title.clone();
        if i == self.current {
            info!("{what}: song {} '{title}' is already selected", i + 1);
            return;
        }
        // A start of the song before, still to come, is not the new song's.
        self.cancel_start();
        self.started_from_s = None;
        let transport = match self.transport_for(i) {
            Ok(t) => t,
            Err(e) => {
                error!("{what}: song {} '{title}': {e}", i + 1);
                return;
            }
        };
        if let Some(why) = self.song_failed[i].clone() {
            error!(
                "{what}: song {} '{title}' cannot play: {why}; the screen goes {}, and the \
                 DAW's Start plays nothing until another song is selected",
                i + 1,
                if self.show.songs[i].idle.is_some() && self.idle_deck.is_some() {
                    "to the idle content"
                } else {
                    "black"
                }
            );
            self.current = i;
            self.transport = transport;
            self.lock_state = None;
            self.position_s = None;
            self.show_unplayable();
            return;
        }
        let t = clock::now();
        // Black stays over the picture of a song that could not play until the new song's
        // first frame replaces it: never the song before it.
        let from_unplayable = self.song_failed[self.current].is_some();
        if !from_unplayable || self.deck_of(i).is_some_and(|d| self.decks[d].ready) {
            self.set_black(false);
        }
        if self.overlay_shown {
            let _ = self
                .mpv()
                .command_async(&["osd-overlay", OVERLAY_STATUS, "none", ""]);
        }
        let (old_song, old_deck) = (self.current, self.deck);
        self.current = i;
        self.blank_for = None;
        self.decode_warned = None;
        let (held, failed) = self.pool_view();
        let deck = match self.pool(&held, &failed).deck_for_selection(i, old_song) {
            Some(deck) => {
                self.load_into(deck, i);
                deck
            }
            None => {
                error!("{what}: no deck is free for song {} '{title}'", i + 1);
                self.current = old_song;
                return;
            }
        };
        self.deck = deck;
        self.transport = transport;
        self.lock_state = None;
        self.position_s = None;
        if self.decks[deck].ready {
            self.selected_unloaded_at = None;
            self.show_current();
            info!(
                "{what}: song {} '{title}' selected, armed on its first frame ({} µs)",
                i + 1,
                t.elapsed().as_micros()
            );
        } else {
            self.selected_unloaded_at = Some(t);
            // The picture on screen holds (paused, where it is) until the new one is ready.
            let shown = &self.decks[self.stage.shown()].mpv;
            if let Err(e) = shown.set_flag_async("pause", true) {
                warn!("could not pause the picture on screen: {e}");
            }
            info!(
                "{what}: song {} '{title}' selected; it was not preloaded (preload window: \
                 {}), loading it now",
                i + 1,
                describe_preload(self.show.preload)
            );
            if old_deck != self.stage.shown() {
                // Selected before, never shown: back to its first frame or unloaded.
                self.retire(old_deck);
            }
            self.update_window();
            self.check_failures();
        }
        self.refresh_overlay();
    }

    /// The selected song cannot play: no picture of another song may show, and nothing plays.
    /// The deck on screen (the song before's) goes back to its first frame, paused, under
    /// black; the song's idle content, if it has any, shows over it.
    fn show_unplayable(&mut self) {
        self.cancel_start();
        self.started_from_s = None;
        self.selected_unloaded_at = None;
        let shown = self.stage.shown();
        let loading = self.deck;
        if Some(shown) != self.idle_deck && shown != self.deck {
            // The black goes over the deck on screen, the one the audience sees.
            self.deck = shown;
        }
        if loading != self.deck {
            // A song being loaded for the selection before: back to its first frame or
            // unloaded.
            self.retire(loading);
        }
        let deck = &mut self.decks[self.deck];
        deck.cued_s = Some(0.0);
        deck.seeks.sent(clock::stamp(clock::now()));
        let mpv = &deck.mpv;
        if let Err(e) = mpv
            .set_flag_async("pause", true)
            .and_then(|_| mpv.set_double_async("speed", 1.0))
            .and_then(|_| mpv.command_async(&["seek", "0", "absolute+exact"]))
        {
            warn!("could not stop the picture on screen: {e}");
        }
        self.set_black(true);
        self.show_idle();
        self.update_window();
        self.blank_for = Some(self.current);
        let why = self.song_failed[self.current].clone().unwrap_or_default();
        (self.notify)(Notice::CannotPlay {
            song: self.current,
            why,
        });
        self.refresh_overlay();
        self.published_key = None;
    }

    /// A cue for a song that cannot play: nothing moves. A start is said in the log.
    pub(super) fn refuse(&mut self, cue: Cue, what: &str) {
        let Some(why) = self.song_failed[self.current].clone() else {
            return;
        };
        if !cue.plays() {
            debug!("{what}: {} ignored, the song cannot play", describe(cue));
            return;
        }
        warn!(
            "{what}: song {} '{}' cannot play ({why}): nothing plays, the screen stays {}",
            self.current + 1,
            self.show.songs[self.current].title,
            if self.cover.idle_shown() {
                "on the idle content"
            } else {
                "black"
            }
        );
        (self.notify)(Notice::CannotPlay {
            song: self.current,
            why,
        });
    }

    /// Acts on songs that failed: a single video is fatal; in a setlist the song is skipped
    /// (and the show moves to the first song that works, if the failed one is selected).
    pub(super) fn check_failures(&mut self) {
        if self.fatal_sent {
            return;
        }
        let failed: Vec<usize> = (0..self.song_failed.len())
            .filter(|&i| self.song_failed[i].is_some())
            .collect();
        if failed.is_empty() {
            return;
        }
        if failed.len() == self.song_failed.len() {
            self.fatal_sent = true;
            let msg = self.song_failed[failed[0]].clone().unwrap_or_default();
            error!("{msg}");
            (self.notify)(Notice::Fatal(msg));
            return;
        }
        for &i in &failed {
            if std::mem::replace(&mut self.failure_reported[i], true) {
                continue;
            }
            error!(
                "song {} '{}' cannot play: {}; selecting it shows black, and Start plays nothing",
                i + 1,
                self.show.songs[i].title,
                self.song_failed[i].as_deref().unwrap_or_default()
            );
        }
        if self.song_failed[self.current].is_some() {
            if !self.announced_ready {
                // At the start: the show arms on the first song that can play.
                let (held, failed) = self.pool_view();
                if let Some(good) = self.pool(&held, &failed).first_playable() {
                    self.select(good, "the selected song cannot play");
                }
            } else if self.blank_for != Some(self.current) {
                // Selected by the DAW or the operator and found broken while loading: black
                // rather than the song before's picture.
                error!(
                    "song {} '{}' was selected but cannot play: the screen goes black",
                    self.current + 1,
                    self.show.songs[self.current].title
                );
                self.show_unplayable();
            }
        }
    }

    /// Forgets why songs could not play and loads those of the preload window again; the
    /// others load when selected. A song that fails again is reported again.
    pub(super) fn reopen_failed(&mut self, what: &str) {
        let failed: Vec<usize> = (0..self.song_failed.len())
            .filter(|&i| self.song_failed[i].is_some())
            .collect();
        if failed.is_empty() {
            info!("{what}: every song can play; nothing to re-open");
            return;
        }
        for &i in &failed {
            self.song_failed[i] = None;
            self.failure_reported[i] = false;
            // A deck still holding the failed file gives it up, so the file is opened afresh.
            if let Some(d) = self.deck_of(i) {
                if d != self.deck && d != self.stage.shown() {
                    self.decks[d].unload();
                }
            }
        }
        info!(
            "{what}: re-opening song{} {}",
            if failed.len() == 1 { "" } else { "s" },
            failed
                .iter()
                .map(|i| (i + 1).to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        // The status says at once that they are being tried again.
        self.published_key = None;
        if failed.contains(&self.current) {
            // The song selected: loaded now, its first frame replaces the black when ready.
            self.blank_for = None;
            let (held, failed) = self.pool_view();
            if let Some(d) = self.pool(&held, &failed).deck_for(self.current, true) {
                self.load_into(d, self.current);
                self.deck = d;
                self.selected_unloaded_at = Some(clock::now());
            }
        }
        self.update_window();
        self.check_failures();
    }

    /// The operator's test card: on selects it (the show's own, else the spare one, added to
    /// the end of the setlist the first time), off selects the song that was selected before.
    pub(super) fn test_card(&mut self, on: bool, what: &str) {
        let card = self.show.songs.iter().position(|s| s.test_card);
        if !on {
            match card {
                Some(i) if i == self.current => {
                    let back = self.before_card.take().unwrap_or(0);
                    let back = if back == i { 0 } else { back };
                    self.select(back, what);
                }
                _ => info!("{what}: the test card is not showing"),
            }
            return;
        }
        let i = match card {
            Some(i) => i,
            None => match self.options.spare_card.take() {
                Some(song) => {
                    if let Err(e) =
                        crate::test_card::write_stream(&song, self.options.chase.tempo_map.as_ref())
                    {
                        error!("{what}: {e}");
                        return;
                    }
                    self.show.songs.push(song);
                    self.song_failed.push(None);
                    self.failure_reported.push(false);
                    let i = self.show.songs.len() - 1;
                    info!(
                        "{what}: the test card is added to the setlist as song {} (Song Select {})",
                        i + 1,
                        self.show.songs[i].number
                    );
                    i
                }
                None => {
                    warn!("{what}: there is no test card to show (see the log at start)");
                    return;
                }
            },
        };
        if i != self.current {
            self.before_card = Some(self.current);
        }
        self.select(i, what);
    }

    /// The decks as the setlist sees them: the song each holds, and which songs cannot play
    /// (for [`Player::pool`]).
    fn pool_view(&self) -> (Vec<Option<usize>>, Vec<bool>) {
        (
            self.decks.iter().map(|d| d.song).collect(),
            self.song_failed.iter().map(Option::is_some).collect(),
        )
    }

    /// The pool of decks now, for the setlist's decisions ([`setlist::Pool`]).
    fn pool<'a>(&self, held: &'a [Option<usize>], failed: &'a [bool]) -> setlist::Pool<'a> {
        setlist::Pool {
            held,
            shown: self.stage.shown(),
            idle: self.idle_deck,
            preload: self.show.preload,
            current: self.current,
            current_deck: self.deck,
            failed,
        }
    }

    /// The deck holding `song`, if any.
    fn deck_of(&self, song: usize) -> Option<usize> {
        self.decks.iter().position(|d| d.holds(song))
    }

    /// Loads `song` into deck `d` (nothing if it holds it already); a file mpv refuses makes
    /// the song one that cannot play.
    fn load_into(&mut self, d: usize, song: usize) {
        if let Err(e) = self.decks[d].load(song, Media::of(&self.show, song)) {
            self.song_failed[song] = Some(e);
        }
    }

    /// Puts the current song's deck on screen (its first frame is ready) and retires the one
    /// that was.
    pub(super) fn show_current(&mut self) {
        let (deck, before) = (self.deck, self.stage.shown());
        // The black over a song that could not play goes with it.
        let steps = self.cover.song_shown(deck);
        self.cover_steps(steps);
        (self.notify)(Notice::Switched { song: self.current });
        if before != deck {
            self.retire(before);
        }
        self.update_window();
        // At start, when the first song failed after this one was already loaded.
        self.announce_ready();
    }

    /// Deck `d` left the screen: if its song is inside the preload window it goes back to its
    /// first frame off screen, at normal speed, ready for its next turn; else it is unloaded.
    fn retire(&mut self, d: usize) {
        let (held, failed) = self.pool_view();
        match self.pool(&held, &failed).retire(d) {
            setlist::Retire::Stays => {}
            setlist::Retire::PauseIdle => {
                // The idle content waits, paused, for its next turn.
                self.cover.idle_paused();
                if let Err(e) = self.decks[d].mpv.set_flag_async("pause", true) {
                    warn!("could not pause the idle content: {e}");
                }
            }
            setlist::Retire::Rewind(s) => {
                let mpv = &self.decks[d].mpv;
                if let Err(e) = mpv
                    .set_flag_async("pause", true)
                    .and_then(|_| mpv.set_double_async("speed", 1.0))
                    .and_then(|_| mpv.command_async(&["seek", "0", "absolute+exact"]))
                {
                    warn!("could not re-arm song {}: {e}", s + 1);
                }
            }
            setlist::Retire::Unload => self.decks[d].unload(),
        }
    }

    /// Unloads the songs that left the preload window (not the one on screen) and loads those
    /// that entered it, nearest first, into the decks that frees. While a song selected from
    /// outside the window is still loading, its neighbours wait: they would take the
    /// processor from it.
    pub(super) fn update_window(&mut self) {
        let (held, failed) = self.pool_view();
        let pool = self.pool(&held, &failed);
        let (leaving, entering) = (pool.leaving(), pool.entering());
        for d in leaving {
            self.decks[d].unload();
        }
        for s in entering {
            let (held, failed) = self.pool_view();
            match self.pool(&held, &failed).deck_for(s, false) {
                Some(d) => self.load_into(d, s),
                None => debug!("no deck free for song {}", s + 1),
            }
        }
    }

    /// Takes as done the unloads that mpv has not confirmed within [`UNLOAD_SETTLE`] (mpv
    /// sends no `end-file` for a file it had not started).
    pub(super) fn settle_unloads(&mut self) {
        let mut failures = false;
        for d in 0..self.decks.len() {
            if self.decks[d]
                .unloading_since
                .is_some_and(|t| t.elapsed() >= UNLOAD_SETTLE)
            {
                failures |= self.unload_done(d);
            }
        }
        if failures {
            self.check_failures();
        }
    }

    /// Deck `d`'s unload is confirmed: a load waiting for it goes ahead. True when that load
    /// failed.
    pub(super) fn unload_done(&mut self, d: usize) -> bool {
        match (self.decks[d].unload_done(), self.decks[d].song) {
            (Err(e), Some(s)) => {
                self.song_failed[s] = Some(e);
                true
            }
            _ => false,
        }
    }

    /// The show's stop behaviour, after the DAW stopped the video.
    pub(super) fn after_stop(&mut self, at: Instant) {
        match self.show.on_stop {
            StopAction::Hold => {}
            StopAction::Black => self.set_black(true),
            StopAction::Rearm => {
                if let Some(cue) = self.transport.on_operator(OperatorCommand::Rewind) {
                    self.apply(cue, at, "stop behaviour \"rearm\"");
                }
            }
            StopAction::Idle => {
                if let Some(cue) = self.transport.on_operator(OperatorCommand::Rewind) {
                    self.apply(cue, at, "stop behaviour \"idle\"");
                }
                self.show_idle();
            }
        }
    }

    /// Puts the selected song's idle content on screen, looping, while the song's deck stays
    /// armed behind it. Nothing when the song has none.
    pub(super) fn show_idle(&mut self) {
        let (Some(d), Some(path)) = (self.idle_deck, self.show.songs[self.current].idle.clone())
        else {
            return;
        };
        if self.cover.idle_shown() || self.idle_broken.as_ref() == Some(&path) {
            return;
        }
        let mpv = self.decks[d].mpv.clone();
        if self.idle_loaded.as_ref() != Some(&path) {
            let loaded = mpv
                .set_string("loop-file", "inf")
                .and_then(|_| mpv.load_file(&path));
            if let Err(e) = loaded {
                error!("cannot load the idle content '{}': {e}", path.display());
                return;
            }
            self.idle_loaded = Some(path.clone());
        }
        let steps = self.cover.show_idle(d);
        self.cover_steps(steps);
        info!(
            "idle: '{}' on screen, looping, until the next song position, Song Select or Start",
            path.display()
        );
    }

    /// The song's picture replaces the idle content (at once: its deck is armed behind it).
    /// Nothing while the song still loads (its first frame replaces the idle content when
    /// ready), nor for a song that cannot play.
    pub(super) fn leave_idle(&mut self, what: &str) {
        let Some(d) = self.idle_deck else {
            return;
        };
        let (ready, failed) = (
            self.decks[self.deck].ready,
            self.song_failed[self.current].is_some(),
        );
        let steps = self.cover.leave_idle(d, self.deck, ready, failed);
        if steps.is_empty() {
            return;
        }
        self.cover_steps(steps);
        info!("{what}: the song's picture replaces the idle content");
    }

    /// A play takes the black away: the black of the stop behaviour, over the current song.
    /// Black over the song before, while the song selected after one that could not play is
    /// still loading, stays until its first frame replaces it.
    pub(super) fn lift_black(&mut self) {
        let steps = self.cover.lift(self.deck);
        self.cover_steps(steps);
    }

    /// Shows black over the picture (or takes it away).
    pub(super) fn set_black(&mut self, black: bool) {
        let steps = self.cover.set_black(black, self.deck);
        self.cover_steps(steps);
    }

    /// Carries out the cover's steps: the black through mpv's OSD of the deck (so it reaches
    /// every kind of screen), the deck on screen through the stage, the idle content's deck
    /// played or paused.
    pub(super) fn cover_steps(&mut self, steps: Vec<setlist::CoverStep>) {
        use setlist::CoverStep;
        for step in steps {
            match step {
                CoverStep::Black(d) | CoverStep::Unblack(d) => {
                    let black = matches!(step, CoverStep::Black(_));
                    let mpv = &self.decks[d].mpv;
                    let result = if black {
                        mpv.command_async(&[
                            "osd-overlay",
                            OVERLAY_BLACK,
                            "ass-events",
                            "{\\an7\\pos(0,0)\\bord0\\shad0\\1c&H000000&\\p1}m 0 0 l 10000 0 10000 10000 0 10000",
                            "0",
                            "720",
                            "5",
                        ])
                    } else {
                        mpv.command_async(&["osd-overlay", OVERLAY_BLACK, "none", ""])
                    };
                    match result {
                        Ok(()) if black && self.song_failed[self.current].is_none() => {
                            info!("stop behaviour \"black\": the picture is black until the next play")
                        }
                        Ok(()) => {}
                        Err(e) => warn!(
                            "could not {} the black picture: {e}",
                            if black { "show" } else { "remove" }
                        ),
                    }
                }
                CoverStep::Show(d) => self.stage.show(d),
                CoverStep::PlayIdle(d) => {
                    if let Err(e) = self.decks[d].mpv.set_flag_async("pause", false) {
                        warn!("could not play the idle content: {e}");
                    }
                }
                CoverStep::PauseIdle(d) => {
                    if let Err(e) = self.decks[d].mpv.set_flag_async("pause", true) {
                        warn!("could not pause the idle content: {e}");
                    }
                }
            }
        }
    }
}
