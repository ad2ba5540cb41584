//! Which deck holds which song of the setlist, and what becomes of a deck when the selection
//! moves.
//!
//! The player has a small pool of decks (mpv cores, as many as the preload window needs). The
//! songs of the window each have one, paused on their first frame, so that a Song Select shows
//! the new song at once; the other songs have none. [`Pool`] decides: which deck a song goes
//! to ([`Pool::deck_for`]), what a deck that left the screen does ([`Pool::retire`]: back to
//! its first frame if its song is in the window, else unloaded), which decks the window
//! frees and which songs enter it, nearest first ([`Pool::leaving`], [`Pool::entering`]).
//! Never the deck on screen, never the deck of the idle content (it holds no song). The player
//! loads and unloads what it says.
//!
//! [`Cover`] is what goes over the selected song's picture: the black (of the stop behaviour,
//! of the operator, or over a song that cannot play) and the idle content, and when each
//! leaves. It says which deck goes on screen and which overlay is drawn where
//! ([`CoverStep`]); the player carries that out on mpv and the screens.

use crate::parse::MidiEvent;
use crate::show::Preload;

/// The pool of decks as the setlist sees it, at one moment.
#[derive(Clone, Copy, Debug)]
pub struct Pool<'a> {
    /// The song each deck holds or is loading (its index in the setlist), or none.
    pub held: &'a [Option<usize>],
    /// The deck on screen.
    pub shown: usize,
    /// The deck of the idle content, if the show has one.
    pub idle: Option<usize>,
    /// The decks' window around the selected song.
    pub preload: Preload,
    /// The selected song.
    pub current: usize,
    /// The selected song's deck (it may still be loading, off screen).
    pub current_deck: usize,
    /// For each song of the setlist: it cannot play (its file is missing or broken).
    pub failed: &'a [bool],
}

/// What becomes of a deck that left the screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retire {
    /// Nothing: it is the selected song's deck.
    Stays,
    /// The idle content's deck: paused, for its next turn.
    PauseIdle,
    /// Its song is in the window and can play: back to its first frame, paused, at normal
    /// speed, ready for its next turn.
    Rewind(usize),
    /// Its song left the window, or cannot play, or it holds none: unloaded.
    Unload,
}

impl Pool<'_> {
    /// The deck holding `song`, if any.
    pub fn deck_of(&self, song: usize) -> Option<usize> {
        self.held.iter().position(|&s| s == Some(song))
    }

    /// The deck for `song`: the one holding it; else a free deck; else one whose song is
    /// outside the window; else, with `steal_neighbour`, one holding any song but the selected
    /// one. Never the deck on screen nor the idle content's. The player loads `song` there
    /// when it holds it not.
    pub fn deck_for(&self, song: usize, steal_neighbour: bool) -> Option<usize> {
        if let Some(d) = self.deck_of(song) {
            return Some(d);
        }
        let rank = |held: Option<usize>| match held {
            None => Some(0),
            Some(s) if s != self.current && !self.preload.holds(s, self.current) => Some(1),
            Some(s) if s != self.current && steal_neighbour => Some(2),
            Some(_) => None,
        };
        let (_, d) = (0..self.held.len())
            .filter(|&d| d != self.shown && Some(d) != self.idle)
            .filter_map(|d| rank(self.held[d]).map(|r| (r, d)))
            .min()?;
        Some(d)
    }

    /// The deck for `song`, selected while `before` was: [`Pool::deck_for`], stealing a
    /// neighbour's deck if need be; with none free, in a show of one or two songs where the
    /// song before is held (a one-song show whose operator called up the test card, or went
    /// back from it), the deck on screen, whose picture changes once the new first frame is
    /// ready.
    pub fn deck_for_selection(&self, song: usize, before: usize) -> Option<usize> {
        self.deck_for(song, true).or_else(|| {
            (self.failed.len() <= 2 && self.deck_of(before).is_some()).then_some(self.shown)
        })
    }

    /// What becomes of deck `d`, which left the screen (or was selected and never shown).
    pub fn retire(&self, d: usize) -> Retire {
        if d == self.current_deck {
            return Retire::Stays;
        }
        if Some(d) == self.idle {
            return Retire::PauseIdle;
        }
        match self.held.get(d).copied().flatten() {
            Some(s) if self.in_window(s) => Retire::Rewind(s),
            _ => Retire::Unload,
        }
    }

    /// The decks to unload because their song left the window or cannot play: neither the
    /// deck on screen, nor the selected song's, nor the idle content's.
    pub fn leaving(&self) -> Vec<usize> {
        (0..self.held.len())
            .filter(|&d| d != self.shown && d != self.current_deck && Some(d) != self.idle)
            .filter(|&d| self.held[d].is_some_and(|s| !self.in_window(s)))
            .collect()
    }

    /// The songs of the window besides the selected one, nearest first, that can play: each
    /// gets a deck ([`Pool::deck_for`] without stealing) once the selected song is on
    /// screen. While a song selected from outside the window still loads off screen, none:
    /// they would take the processor from it.
    pub fn entering(&self) -> Vec<usize> {
        if self.shown != self.current_deck {
            return Vec::new();
        }
        let mut songs: Vec<usize> = (0..self.failed.len())
            .filter(|&s| s != self.current && self.in_window(s))
            .collect();
        songs.sort_by_key(|&s| s.abs_diff(self.current));
        songs
    }

    /// The song the show arms on when the selected one cannot play at the start: the first
    /// that can.
    pub fn first_playable(&self) -> Option<usize> {
        self.failed.iter().position(|&f| !f)
    }

    /// `song` belongs in a deck: it is in the window around the selected song and can play.
    fn in_window(&self, song: usize) -> bool {
        self.preload.holds(song, self.current) && !self.failed.get(song).copied().unwrap_or(true)
    }
}

/// What goes over the selected song's picture, and when it leaves.
///
/// The black is drawn over one deck (the one on screen when it went black): a play lifts the
/// black over the selected song's deck, but not the black over the song before while a song
/// selected after one that could not play still loads; that goes when the new song's first
/// frame replaces it. The idle content is a deck of its own that loops while the song's deck
/// stays armed behind it; it leaves when the DAW moves (a Song Position, Start or Continue,
/// [`leaves_idle`]) and the song's first frame is ready, never for a song that cannot play.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cover {
    black_over: Option<usize>,
    idle_shown: bool,
}

/// One thing for the player to do, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoverStep {
    /// Draw black over deck d's picture.
    Black(usize),
    /// Take the black off deck d's picture.
    Unblack(usize),
    /// Deck d goes on screen.
    Show(usize),
    /// The idle content's deck plays (looping).
    PlayIdle(usize),
    /// The idle content's deck pauses, for its next turn.
    PauseIdle(usize),
}

impl Cover {
    /// The picture is black.
    pub fn black(&self) -> bool {
        self.black_over.is_some()
    }

    /// The idle content is on screen.
    pub fn idle_shown(&self) -> bool {
        self.idle_shown
    }

    /// Black over `deck` (the selected song's), or no black. Black over another deck moves.
    pub fn set_black(&mut self, black: bool, deck: usize) -> Vec<CoverStep> {
        let mut steps = Vec::new();
        match (black, self.black_over) {
            (true, Some(d)) if d == deck => {}
            (true, over) => {
                steps.extend(over.map(CoverStep::Unblack));
                self.black_over = Some(deck);
                steps.push(CoverStep::Black(deck));
            }
            (false, over) => {
                steps.extend(over.map(CoverStep::Unblack));
                self.black_over = None;
            }
        }
        steps
    }

    /// A play: the black over the selected song's deck goes (not the black over the song
    /// before, while the selected song still loads).
    pub fn lift(&mut self, deck: usize) -> Vec<CoverStep> {
        if self.black_over == Some(deck) {
            self.set_black(false, deck)
        } else {
            Vec::new()
        }
    }

    /// The idle content (on deck `idle`, loaded) goes on screen, playing, and the black goes.
    /// Nothing when it is on screen already.
    pub fn show_idle(&mut self, idle: usize) -> Vec<CoverStep> {
        if self.idle_shown {
            return Vec::new();
        }
        let mut steps = vec![CoverStep::PlayIdle(idle)];
        steps.extend(self.set_black(false, idle));
        self.idle_shown = true;
        steps.push(CoverStep::Show(idle));
        steps
    }

    /// The song's picture (deck `song_deck`) replaces the idle content (deck `idle`) at once,
    /// when its first frame is `ready` and the song can play (`!failed`): a song still
    /// loading replaces it when ready; one that cannot play has no picture to replace it with.
    pub fn leave_idle(
        &mut self,
        idle: usize,
        song_deck: usize,
        ready: bool,
        failed: bool,
    ) -> Vec<CoverStep> {
        if !self.idle_shown || !ready || failed {
            return Vec::new();
        }
        self.idle_shown = false;
        vec![CoverStep::Show(song_deck), CoverStep::PauseIdle(idle)]
    }

    /// The idle content cannot play: back to the song's deck (`song_deck`), black over it if
    /// the song cannot play either (never the song before's picture, never a blank screen).
    pub fn idle_broken(&mut self, song_deck: usize, failed: bool) -> Vec<CoverStep> {
        if !std::mem::take(&mut self.idle_shown) {
            return Vec::new();
        }
        let mut steps = vec![CoverStep::Show(song_deck)];
        if failed {
            steps.extend(self.set_black(true, song_deck));
        }
        steps
    }

    /// The idle content's deck was paused off screen (it left the screen another way).
    pub fn idle_paused(&mut self) {
        self.idle_shown = false;
    }

    /// The selected song's deck `deck` goes on screen (its first frame is ready): the black
    /// over another deck (the song before, which could not play) goes with that deck, and the
    /// idle content leaves.
    pub fn song_shown(&mut self, deck: usize) -> Vec<CoverStep> {
        let mut steps = Vec::new();
        if self.black_over.is_some_and(|d| d != deck) {
            steps.extend(self.set_black(false, deck));
        }
        self.idle_shown = false;
        steps.push(CoverStep::Show(deck));
        steps
    }
}

/// The DAW moves: the song's picture replaces the idle content (when it is ready).
pub fn leaves_idle(event: &MidiEvent) -> bool {
    matches!(
        event,
        MidiEvent::SongPosition { .. } | MidiEvent::Start | MidiEvent::Continue
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool<'a>(held: &'a [Option<usize>], failed: &'a [bool], current: usize) -> Pool<'a> {
        Pool {
            held,
            shown: 0,
            idle: None,
            preload: Preload::Neighbours(1),
            current,
            current_deck: 0,
            failed,
        }
    }

    #[test]
    fn a_song_already_held_keeps_its_deck() {
        let failed = [false; 5];
        let held = [Some(1), Some(2), Some(0)];
        assert_eq!(pool(&held, &failed, 1).deck_for(2, false), Some(1));
    }

    #[test]
    fn a_free_deck_comes_first_then_one_outside_the_window_then_a_neighbours() {
        let failed = [false; 6];
        // Songs by index: 2 selected, on deck 0. Deck 1 holds song 3 (a neighbour), deck 2
        // song 5 (outside the window), deck 3 nothing.
        let held = [Some(2), Some(3), Some(5), None];
        let p = pool(&held, &failed, 2);
        assert_eq!(p.deck_for(1, false), Some(3), "the free deck");
        let held = [Some(2), Some(3), Some(5)];
        let p = pool(&held, &failed, 2);
        assert_eq!(
            p.deck_for(1, false),
            Some(2),
            "the deck of song 5, outside the window"
        );
        let held = [Some(2), Some(3), Some(1)];
        let p = pool(&held, &failed, 2);
        assert_eq!(
            p.deck_for(4, false),
            None,
            "no neighbour's deck without stealing"
        );
        assert_eq!(p.deck_for(4, true), Some(1), "the lowest neighbour's deck");
    }

    #[test]
    fn neither_the_deck_on_screen_nor_the_idle_deck_nor_the_selected_songs_is_taken() {
        let failed = [false; 4];
        // The show's idle content on deck 2; song 3 selected and loading on deck 1 while song
        // 0's picture stays on screen (deck 0).
        let held = [Some(0), Some(3), None];
        let p = Pool {
            held: &held,
            shown: 0,
            idle: Some(2),
            preload: Preload::Neighbours(0),
            current: 3,
            current_deck: 1,
            failed: &failed,
        };
        assert_eq!(p.deck_for(2, true), None);
        // A one- or two-song show falls back on the deck on screen.
        let failed = [false; 2];
        let held = [Some(0), None];
        let p = Pool {
            held: &held,
            shown: 0,
            idle: Some(1),
            preload: Preload::Neighbours(0),
            current: 0,
            current_deck: 0,
            failed: &failed,
        };
        assert_eq!(p.deck_for_selection(1, 0), Some(0));
        let failed = [false; 3];
        let p = Pool {
            failed: &failed,
            ..p
        };
        assert_eq!(
            p.deck_for_selection(1, 0),
            None,
            "not in a show of three songs"
        );
    }

    #[test]
    fn a_deck_leaving_the_screen_rewinds_inside_the_window_and_unloads_outside_it() {
        // Songs by index: 2 selected (deck 1), the window is 1..=3, and 3 cannot play.
        let failed = [false, false, false, true, false];
        let held = [Some(1), Some(2), Some(4), Some(3), None];
        let p = Pool {
            held: &held,
            shown: 0,
            idle: Some(4),
            preload: Preload::Neighbours(1),
            current: 2,
            current_deck: 1,
            failed: &failed,
        };
        assert_eq!(p.retire(0), Retire::Rewind(1));
        assert_eq!(p.retire(1), Retire::Stays);
        assert_eq!(p.retire(2), Retire::Unload, "song 4 is outside the window");
        assert_eq!(p.retire(3), Retire::Unload, "song 3 cannot play");
        assert_eq!(p.retire(4), Retire::PauseIdle);
        assert_eq!(p.leaving(), vec![2, 3], "never the deck on screen");
        assert_eq!(
            p.entering(),
            Vec::<usize>::new(),
            "the selection is still loading"
        );
        let p = Pool { shown: 1, ..p };
        assert_eq!(p.leaving(), vec![2, 3]);
        assert_eq!(p.entering(), vec![1], "song 3 cannot play");
    }

    #[test]
    fn the_window_fills_nearest_first_and_all_preloads_every_song() {
        let failed = [false; 7];
        let held = [Some(3), None, None, None, None];
        let p = Pool {
            held: &held,
            shown: 0,
            idle: None,
            preload: Preload::Neighbours(2),
            current: 3,
            current_deck: 0,
            failed: &failed,
        };
        assert_eq!(p.entering(), vec![2, 4, 1, 5]);
        let p = Pool {
            preload: Preload::All,
            ..p
        };
        assert_eq!(p.entering(), vec![2, 4, 1, 5, 0, 6]);
        assert_eq!(p.leaving(), Vec::<usize>::new());
    }

    #[test]
    fn the_show_arms_on_the_first_song_that_can_play() {
        let held = [None];
        assert_eq!(
            pool(&held, &[true, true, false], 0).first_playable(),
            Some(2)
        );
        assert_eq!(pool(&held, &[true, true], 0).first_playable(), None);
    }

    #[test]
    fn the_black_is_drawn_over_one_deck_and_a_play_lifts_only_the_selected_songs() {
        let mut c = Cover::default();
        assert_eq!(c.set_black(true, 0), vec![CoverStep::Black(0)]);
        assert_eq!(c.set_black(true, 0), vec![], "already black");
        // A song selected after one that could not play, still loading on deck 1: its play
        // does not lift the black over deck 0's picture.
        assert_eq!(c.lift(1), vec![]);
        assert!(c.black());
        // Its first frame is ready: deck 1 on screen, the black goes with deck 0.
        assert_eq!(
            c.song_shown(1),
            vec![CoverStep::Unblack(0), CoverStep::Show(1)]
        );
        assert!(!c.black());
        // Black moves to the selected song's deck.
        c.set_black(true, 1);
        assert_eq!(
            c.set_black(true, 2),
            vec![CoverStep::Unblack(1), CoverStep::Black(2)]
        );
        assert_eq!(c.lift(2), vec![CoverStep::Unblack(2)]);
        assert_eq!(c.set_black(false, 2), vec![]);
    }

    #[test]
    fn the_idle_content_leaves_when_the_song_is_ready_and_can_play() {
        let mut c = Cover::default();
        c.set_black(true, 0);
        assert_eq!(
            c.show_idle(3),
            vec![
                CoverStep::PlayIdle(3),
                CoverStep::Unblack(0),
                CoverStep::Show(3)
            ]
        );
        assert!(c.idle_shown() && !c.black());
        assert_eq!(c.show_idle(3), vec![], "on screen already");
        assert_eq!(c.leave_idle(3, 0, false, false), vec![], "still loading");
        assert_eq!(c.leave_idle(3, 0, true, true), vec![], "cannot play");
        assert_eq!(
            c.leave_idle(3, 0, true, false),
            vec![CoverStep::Show(0), CoverStep::PauseIdle(3)]
        );
        assert!(!c.idle_shown());
        assert_eq!(c.leave_idle(3, 0, true, false), vec![], "left already");
        assert!(leaves_idle(&MidiEvent::Continue));
        assert!(leaves_idle(&MidiEvent::SongPosition { sixteenths: 16 }));
        assert!(!leaves_idle(&MidiEvent::Stop));
        assert!(!leaves_idle(&MidiEvent::Clock));
    }

    #[test]
    fn broken_idle_content_gives_the_screen_back_black_over_a_song_that_cannot_play() {
        let mut c = Cover::default();
        assert_eq!(c.idle_broken(0, true), vec![], "not on screen: nothing");
        c.show_idle(2);
        assert_eq!(
            c.idle_broken(0, true),
            vec![CoverStep::Show(0), CoverStep::Black(0)]
        );
        c.set_black(false, 0);
        c.show_idle(2);
        assert_eq!(c.idle_broken(1, false), vec![CoverStep::Show(1)]);
        assert!(!c.black() && !c.idle_shown());
    }
}
