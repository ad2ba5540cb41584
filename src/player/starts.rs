//! Starts on their moment, and what follows a Stop: the player carries out the core's plan
//! of a start ([`crate::plan::TimedStart`]: seek ahead, hold the frame, unpause when due, plan
//! again when a seek lands late) and its stop window ([`crate::stop::StopWindow`]) on the
//! deck's mpv.

use super::*;

impl Player {
    /// Starts playback so that the frame the DAW means is on screen when it means it (see
    /// [`plan`]), for the cues that start playback at a known position: a Start, a
    /// Continue, a locate while playing. False for any other cue, which `apply` then does.
    pub(super) fn start_on_time(
        &mut self,
        cue: Cue,
        due: Instant,
        received: Instant,
        what: &str,
    ) -> bool {
        if self.song_failed[self.current].is_some() {
            // `apply` refuses it.
            return false;
        }
        let position_s = match cue {
            Cue::Play => match self.decks[self.deck].cued_s {
                Some(c) => c,
                None => return false,
            },
            Cue::PlayFromTop => 0.0,
            Cue::Locate {
                position_s,
                play: true,
            } => position_s,
            _ => return false,
        };
        self.start_at(cue, position_s, due, received, what)
    }

    /// Plays `cue` so that video time `position_s` is on screen at `due` (see
    /// [`Player::start_on_time`]). False when the deck is not ready (then `apply` does it).
    fn start_at(
        &mut self,
        cue: Cue,
        position_s: f64,
        due: Instant,
        received: Instant,
        what: &str,
    ) -> bool {
        let deck = &self.decks[self.deck];
        // The frame paused on screen, when it is the one to start from.
        let cued = deck.cued_s.filter(|c| (c - position_s).abs() < 1e-4);
        if !deck.ready {
            return false;
        }
        let now = clock::now();
        self.stage.unfence();
        self.stops.moved_on();
        self.cancel_start();
        let deck = &self.decks[self.deck];
        if deck.seeks.in_flight() {
            // A seek is still on its way (a Song Position in the same packet as this
            // Continue): its frame is not on screen yet. Plan once it has landed (or given up
            // on it).
            debug!("{what}: waiting for the frame being sought before planning the start");
            self.stage.hold(self.deck, Some(due.max(now)));
            self.waiting = Some(WaitingStart {
                cue,
                position_s,
                due,
                received,
                what: what.to_string(),
                deck: self.deck,
                // Its frame is the start's to show, and only on time: held until then, kept
                // off the screen if it comes later (then the start seeks further ahead). A
                // second seek now would have two in flight, and the screen could not tell
                // which one's frame it has.
                give_up_at: now + plan::LANDING_GIVEN_UP,
            });
            return true;
        }
        let frame_s = deck.frame_s.unwrap_or(0.04);
        let run = plan::TimedStart::new(
            position_s,
            clock::stamp(due),
            clock::stamp(now),
            cued,
            frame_s,
            deck.seeks.lead(),
        );
        let plan = run.plan;
        self.lift_black();
        self.leave_idle(what);
        self.timed = Some(TimedStart {
            deck: self.deck,
            run,
            cue,
            received,
            what: what.to_string(),
            restarted_at: None,
        });
        let plan_seek = plan.seek.map(|(at, target)| (clock::instant(at), target));
        let unpause_at = clock::instant(plan.unpause_at);
        let ahead_ms = |t: Instant| signed_ms(t, now);
        let late_ms = signed_ms(now, due);
        let latency = now.saturating_duration_since(received);
        match plan_seek {
            None if unpause_at <= now => info!(
                "{what}, t={:.6}s -> {} ({} µs to mpv, {late_ms:+.1} ms from when the DAW meant it)",
                clock::seconds_since_start(received),
                describe(cue),
                latency.as_micros()
            ),
            None => info!(
                "{what}, stamped {:.1} ms ahead -> {} when it is due",
                -late_ms,
                describe(cue)
            ),
            Some((seek_at, _)) => info!(
                "{what}, {late_ms:+.1} ms from when the DAW meant it -> {}: the frame at \
                 {:.3} s, sought in {:.1} ms, on screen in {:.1} ms when it is due",
                describe(cue),
                plan.from_s,
                ahead_ms(seek_at),
                ahead_ms(unpause_at)
            ),
        }
        (self.notify)(Notice::Cued { cue, latency });
        self.run_timed(now);
        true
    }

    /// Another cue, a song change or an unplayable song overrides a start still waiting for
    /// its moment or for its seek: the screen's hold for it is lifted too (a hold left behind
    /// would keep the next sought frame off the screen).
    pub(super) fn cancel_start(&mut self) {
        if let Some(t) = self.timed.take() {
            self.stage.hold(t.deck, None);
        }
        if let Some(w) = self.waiting.take() {
            self.stage.hold(w.deck, None);
        }
    }

    /// Plans the start that waited for a seek (landed; or not yet, and then the start seeks
    /// on its own).
    pub(super) fn resume_waiting(&mut self) {
        // Its hold stays until the start's own replaces it: mpv may say the seek landed
        // before a screen has drawn its frame.
        let Some(w) = self.waiting.take() else { return };
        let deck = &mut self.decks[w.deck];
        if deck.seeks.in_flight() {
            // Not landed: what is on screen is not known, so plan as from nowhere.
            deck.seeks.forget();
            deck.cued_s = None;
        }
        if w.deck != self.deck {
            self.stage.hold(w.deck, None);
        } else if !self.start_at(w.cue, w.position_s, w.due, w.received, &w.what) {
            self.stage.hold(w.deck, None);
            self.apply(w.cue, w.received, &w.what);
        }
    }

    /// Carries out the timed start's seek and unpause once their moments come. A seek that
    /// has not landed by the unpause's moment is waited for, paused: its frame, late, is kept
    /// off the screen, and once it lands the start is planned again with the seek time just
    /// measured (a file with keyframes far apart seeks slowly, and more slowly the further
    /// from its keyframe). The frames in between are skipped, never shown late.
    pub(super) fn run_timed(&mut self, now: Instant) {
        let Some(mut t) = self.timed.take() else {
            return;
        };
        let (on_plan, gave_up) = loop {
            // Read anew after a seek: its hold forgets the landing before it.
            let landed = self.stage.landed(t.deck).or(t.restarted_at);
            match t.run.step(clock::stamp(now), landed.map(clock::stamp)) {
                StartStep::WaitUntil(_) | StartStep::AwaitLanding => {
                    self.timed = Some(t);
                    return;
                }
                StartStep::Seek {
                    target_s,
                    from_s,
                    hold_until,
                } => {
                    let deck = &mut self.decks[t.deck];
                    let target = format!("{target_s:.6}");
                    let sought = deck
                        .mpv
                        .set_flag_async("pause", true)
                        .and_then(|_| deck.mpv.set_double_async("speed", 1.0))
                        .and_then(|_| deck.mpv.command_async(&["seek", &target, "absolute+exact"]));
                    if let Err(e) = sought {
                        error!("could not seek to {target} s: {e}");
                    }
                    deck.sought_s = Some(target_s);
                    deck.at_end = false;
                    // Timed by the plan, not by mpv's restart: the screen holds this frame
                    // until it is due, so mpv's restart comes late by design.
                    deck.seeks.forget();
                    deck.cued_s = Some(from_s);
                    // The frame sought is due at the unpause: the screen holds it until then.
                    self.stage.hold(t.deck, Some(clock::instant(hold_until)));
                    t.restarted_at = None;
                }
                StartStep::PlanAgain { took, late } => {
                    // Its frame came after its moment (and was kept off the screen): seek
                    // further ahead, with the time this seek took.
                    self.decks[t.deck].seeks.measured(took);
                    info!(
                        "{}: the seek took {:.1} ms, {:.1} ms longer than planned; planned \
                         again",
                        t.what,
                        took.as_secs_f64() * 1000.0,
                        late.as_secs_f64() * 1000.0
                    );
                    self.decks[t.deck].cued_s = None;
                    if t.deck != self.deck {
                        return;
                    }
                    let replanned = t.run.replanned + 1;
                    let (position_s, due) = (t.run.position_s, clock::instant(t.run.due));
                    if self.start_at(t.cue, position_s, due, t.received, &t.what) {
                        if let Some(n) = self.timed.as_mut() {
                            n.run.replanned = replanned;
                        }
                    } else {
                        self.apply(t.cue, t.received, &t.what);
                    }
                    return;
                }
                StartStep::Unpause {
                    on_plan,
                    took,
                    gave_up,
                } => {
                    if let Some(took) = took {
                        self.decks[t.deck].seeks.measured(took);
                    }
                    break (on_plan, gave_up);
                }
            }
        };
        if gave_up {
            warn!(
                "{}: the seek has not landed after {} ms; playing on",
                t.what,
                plan::LANDING_GIVEN_UP.as_millis()
            );
        }
        self.stage.hold(t.deck, None);
        let plan = *t.plan();
        self.started_from_s = Some(plan.from_s);
        let deck = &mut self.decks[t.deck];
        deck.cued_s = None;
        let frame = Duration::from_secs_f64(plan.frame_s.clamp(0.002, 1.0));
        if on_plan {
            // The unpause below begins the deck's next run: the screens time its frames on
            // the plan (see `crate::screen::retime`).
            self.stage.expect_run(
                t.deck,
                deck.mpv.runs() + 1,
                clock::instant(plan.next_due),
                frame,
            );
        }
        let started = deck
            .mpv
            .set_double_async("speed", 1.0)
            .and_then(|_| deck.mpv.set_flag_async("pause", false));
        if started.is_err() {
            self.stage.forget_run(t.deck);
        }

        match started {
            Ok(()) => debug!(
                "unpaused on {:.3} s, {:+.2} ms from its due time ({:+.1} ms from the cue's)",
                plan.from_s,
                signed_ms(now, clock::instant(plan.unpause_at)),
                signed_ms(now, clock::instant(t.run.due))
            ),
            Err(e) => error!("could not start the video: {e}"),
        }
        if self.decks[t.deck].at_end && t.deck == self.deck {
            // Started where there is nothing more to play: mpv says no more about it.
            self.video_ended(t.deck);
        }
    }

    /// How long until the timed start's next step, if one is waiting.
    pub(super) fn next_timed(&self, now: Instant) -> Option<Duration> {
        let next = match (&self.timed, &self.waiting) {
            (Some(t), _) => {
                let p = t.plan();
                let unpause_at = clock::instant(p.unpause_at);
                match p.seek {
                    // Past the unpause's moment: waiting for the seek to land.
                    None if unpause_at <= now => now + LANDING_POLL,
                    None => unpause_at,
                    Some((at, _)) => clock::instant(at),
                }
            }
            (None, Some(w)) => w.give_up_at,
            (None, None) => return None,
        };
        Some(next.saturating_duration_since(now))
    }

    /// What is due after a Stop (the core's [`StopWindow`]): the look at the Stop's frame,
    /// back to it if mpv went past it; the show's stop behaviour, once the DAW has stayed
    /// stopped past the loop-jump window.
    pub(super) fn after_stop_window(&mut self, now: Instant) {
        // A Continue waiting for its clock is a loop jump's end, not a stop.
        let stopped =
            self.transport.state() != State::Playing && self.transport.start_deadline().is_none();
        let due = self
            .stops
            .due(clock::stamp(now), stopped, self.show.on_stop);
        match due.frame {
            Some(true) => self.back_to_stop_frame(),
            Some(false) => self.stage.settle(self.deck, false),
            None => {}
        }
        if due.behaviour {
            self.after_stop(now);
        }
    }

    /// Puts the frame due at the Stop's time back on screen when mpv went past it: the Stop
    /// came after its time (a time stamp from the OS port or the network, a busy machine), or
    /// mpv had handed over the next frame before the pause (the screen kept that one back,
    /// see [`crate::messages::stage::StageCue::Fence`]). mpv's position is the last frame it
    /// handed over, due at the time the screen was told; the Stop's frame is as many frames
    /// before it as began between the two.
    fn back_to_stop_frame(&mut self) {
        let d = self.deck;
        let (Some(stop_at), Some(due), Some(position_s)) = (
            self.stage.fenced_at(d),
            self.stage.last_due(d),
            self.position_s,
        ) else {
            self.stage.settle(d, false);
            return;
        };
        let deck = &mut self.decks[d];
        let frame_s = deck.frame_s.unwrap_or(0.04);
        let Some((frames_back, target_s)) = plan::back_to_stop(
            clock::stamp(stop_at),
            clock::stamp(due),
            position_s,
            frame_s,
        ) else {
            self.stage.settle(d, false);
            return;
        };
        deck.seeks.sent(clock::stamp(clock::now()));
        deck.sought_s = Some(target_s);
        deck.at_end = false;
        // mpv shows the first frame at or after the target: aim a quarter frame early.
        let aim = format!("{:.6}", (target_s - frame_s / 4.0).max(0.0));
        match deck.mpv.command_async(&["seek", &aim, "absolute+exact"]) {
            Ok(()) => {
                self.stage.settle(d, true);
                info!(
                    "Stop: {frames_back} frame(s) came due after the Stop's time; back to \
                     the frame due then ({target_s:.3} s)"
                );
            }
            Err(e) => {
                self.stage.settle(d, false);
                warn!("Stop: cannot go back to the frame due at the Stop's time: {e}");
            }
        }
    }
}
