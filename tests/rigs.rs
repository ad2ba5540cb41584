//! Main and backup rigs: two DAW machines in one network-MIDI session, each a scripted peer
//! on its own loopback address sending SPP, Start, Stop and 120 BPM MIDI clock in real time,
//! the backup a fixed lag behind the main. The player (headless, real libmpv, chase mode) has
//! the show's `main` and `backup`; what is asserted is what the audience would see (the frame
//! code of every frame presented, kept one by one) and what the operator is told (the status
//! the page and OSC read).
//!
//! Nothing here leaves the machine: the session runs with mDNS off on 127.0.0.0/8.

mod common;

use common::{held_frame, wait_headless_frame as wait_frame};
use playhead::arbiter::{Rig, RigSource, Rigs, RigsStatus};
use playhead::chase::position::TimeSignature;
use playhead::chase::tempo::TempoMap;
use playhead::player::PlayerOptions;
use playhead::remote::thumbnail::Thumbnailer;
use playhead::remote::{RemoteAllow, RemoteConfig};
use playhead::screen::headless::HeadlessShow;
use playhead::show::Show;
use playhead::sources::network::{Network, NetworkOptions};
use playhead::transport::{ChaseSettings, Cue, FollowMode};
use playhead_testkit::peer::{Answer, ScriptedPeer};
use playhead_testkit::FrameCode;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);
/// 120 BPM: 48 clocks a second; the demo show runs at 25 fps laid out at 120 BPM.
const CLOCK: Duration = Duration::from_nanos(1_000_000_000 / 48);
const FRAMES_PER_CLOCK: f64 = 25.0 / 48.0;
/// How far the backup runs behind the main.
const LAG: Duration = Duration::from_millis(10);

/// One DAW machine: its peer, whether its clock runs, and the song position (in clocks) of
/// each clock it sent, with when.
struct Daw {
    peer: Mutex<ScriptedPeer>,
    clock_on: AtomicBool,
    start_pending: AtomicBool,
    clocks: Mutex<u64>,
    sent: Mutex<Vec<(Instant, u64)>>,
}

impl Daw {
    fn new(name: &str, ip: [u8; 4], ssrc: u32) -> Arc<Daw> {
        let peer = ScriptedPeer::bind(name, ssrc, IpAddr::V4(Ipv4Addr::from(ip))).unwrap();
        Arc::new(Daw {
            peer: Mutex::new(peer),
            clock_on: AtomicBool::new(false),
            start_pending: AtomicBool::new(false),
            clocks: Mutex::new(0),
            sent: Mutex::new(Vec::new()),
        })
    }

    fn send(&self, messages: &[&[u8]]) {
        self.peer.lock().unwrap().send_midi(messages).unwrap();
    }

    fn clock(&self) {
        let mut n = self.clocks.lock().unwrap();
        let at = self.peer.lock().unwrap().send_midi(&[&[0xF8]]).unwrap();
        self.sent.lock().unwrap().push((at, *n));
        *n += 1;
    }

    /// Plays from the top at its next clock time: SPP 0 and Start, then its clock runs.
    fn start(&self) {
        self.start_pending.store(true, Ordering::SeqCst);
        while self.start_pending.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// At a clock time: starts when asked to, else sends its clock while it runs.
    fn step(&self) {
        if self.start_pending.load(Ordering::SeqCst) {
            *self.clocks.lock().unwrap() = 0;
            self.send(&[&[0xF2, 0, 0], &[0xFA]]);
            self.clock_on.store(true, Ordering::SeqCst);
            self.start_pending.store(false, Ordering::SeqCst);
        } else if self.clock_on.load(Ordering::SeqCst) {
            self.clock();
        }
    }

    /// Its position at `t`, in video frames, from its last clock before `t`.
    fn frames_at(&self, t: Instant) -> Option<f64> {
        let sent = self.sent.lock().unwrap();
        let i = sent.partition_point(|(at, _)| *at <= t);
        let (at, n) = sent.get(i.checked_sub(1)?)?;
        Some((*n as f64 + t.duration_since(*at).as_secs_f64() * 48.0) * FRAMES_PER_CLOCK)
    }
}

/// The two rigs, their clocks sent from one thread: the main's, then the backup's `LAG`
/// later, every clock period.
struct Rigs2 {
    main: Arc<Daw>,
    backup: Arc<Daw>,
    stop: Arc<AtomicBool>,
    /// Both start at the next clock time, the backup `LAG` after the main.
    both: Arc<AtomicBool>,
    /// The main plays again in step with the backup: at a clock time before the backup's clock
    /// that starts a sixteenth, it sends that Song Position and Continue.
    rejoin: Arc<AtomicBool>,
}

impl Rigs2 {
    /// The main machine, back, joins in again in step with the backup (as a technician would
    /// bring it back: locate it to where the backup is, then play).
    fn main_rejoins(&self) {
        self.rejoin.store(true, Ordering::SeqCst);
        while self.rejoin.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for Rigs2 {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn rigs(net: &Network) -> Rigs2 {
    let main = Daw::new("Main Live", [127, 0, 0, 21], 0x4D41_0001);
    let backup = Daw::new("Backup Live", [127, 0, 0, 22], 0x4241_0001);
    let to = SocketAddr::from(([127, 0, 0, 1], net.control_port()));
    for daw in [&main, &backup] {
        match daw.peer.lock().unwrap().invite(to, 10 * SECOND).unwrap() {
            Answer::Accepted { .. } => {}
            other => panic!("not accepted: {other:?}"),
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let both = Arc::new(AtomicBool::new(false));
    let rejoin = Arc::new(AtomicBool::new(false));
    let (m, b, flag, together) = (main.clone(), backup.clone(), stop.clone(), both.clone());
    let again = rejoin.clone();
    std::thread::spawn(move || {
        let mut next = Instant::now();
        while !flag.load(Ordering::SeqCst) {
            next += CLOCK;
            sleep_until(next);
            if together.load(Ordering::SeqCst) {
                m.start_pending.store(true, Ordering::SeqCst);
                b.start_pending.store(true, Ordering::SeqCst);
                together.store(false, Ordering::SeqCst);
            }
            // The backup's clock at the next clock time (this one's is still to come).
            let backup_next = *b.clocks.lock().unwrap() + 1;
            if again.load(Ordering::SeqCst) && backup_next % 6 == 0 {
                // Its next clock is the backup's next one but one: that position, then
                // Continue (the first clock after it is the position itself).
                let sixteenths = u16::try_from(backup_next / 6).unwrap();
                *m.clocks.lock().unwrap() = backup_next;
                m.send(&[
                    &[0xF2, (sixteenths & 0x7F) as u8, (sixteenths >> 7) as u8],
                    &[0xFB],
                ]);
                m.clock_on.store(true, Ordering::SeqCst);
                again.store(false, Ordering::SeqCst);
            } else {
                m.step();
            }
            sleep_until(next + LAG);
            b.step();
        }
    });
    Rigs2 {
        main,
        backup,
        stop,
        both,
        rejoin,
    }
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

/// A headless player chasing at 120 BPM, with the rigs "Main Live" (by its session name) and
/// the backup by its address, in a network-MIDI session on loopback.
fn player() -> (HeadlessShow, Network) {
    let _ = env_logger::builder().is_test(true).try_init();
    let mut show = Show::single(common::demo());
    show.rigs = Some(Rigs {
        main: RigSource::parse("Main Live").unwrap(),
        backup: RigSource::parse("127.0.0.22").unwrap(),
        failover_s: 0.150,
    });
    let options = PlayerOptions {
        follow: FollowMode::Chase,
        chase: ChaseSettings {
            tempo_map: Some(TempoMap::fixed(120.0, TimeSignature::FOUR_FOUR).unwrap()),
            ..ChaseSettings::default()
        },
        ..PlayerOptions::default()
    };
    let show = HeadlessShow::start_show(show, &options, 640, 360).expect("start the player");
    show.wait_ready(20 * SECOND).expect("first frame");
    let net = Network::start(
        &NetworkOptions {
            rtp_port: 0,
            no_mdns: true,
            session_name: Some("playhead under test".into()),
            ..NetworkOptions::default()
        },
        show.tx.clone(),
    )
    .expect("start network MIDI");
    (show, net)
}

/// The status page and its API on loopback, with the control token `s3cret`.
fn remote(show: &HeadlessShow) -> SocketAddr {
    let config = RemoteConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        token: Some("s3cret".into()),
        allow: RemoteAllow::from_rules(&[]).unwrap(),
        peers: None,
        warnings: Default::default(),
        tls: None,
    };
    let thumbnails = Thumbnailer::new(show.decks.clone(), show.stage.clone());
    playhead::remote::start(config, show.status.clone(), show.tx.clone(), thumbnails).unwrap()
}

/// One HTTP request to the page's API from this machine, with the token when given.
fn http(addr: SocketAddr, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let auth = token.map(|t| format!("Authorization: Bearer {t}"));
    let headers: Vec<&str> = auth.iter().map(String::as_str).collect();
    common::http_from(Ipv4Addr::LOCALHOST, addr, method, path, &headers)
}

/// Waits (up to 20 s) for a status the player published that `ok` accepts; returns its rigs.
fn wait_rigs(show: &HeadlessShow, what: &str, ok: impl Fn(&RigsStatus) -> bool) -> RigsStatus {
    let deadline = Instant::now() + 20 * SECOND;
    let (mut version, mut snap) = show.status.latest();
    loop {
        if let Some(r) = snap.rigs.as_ref().filter(|r| ok(r)) {
            return r.clone();
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "no status with {what}; last: {:?}",
            snap.rigs
        );
        (version, snap) = show.status.wait_newer(version, left.min(SECOND));
    }
}

/// Both rigs play from the top, the backup `LAG` behind; returns once the picture plays.
fn play_both(show: &HeadlessShow, r: &Rigs2) {
    r.both.store(true, Ordering::SeqCst);
    wait_frame(show, "playback", |n| n >= 25);
    wait_rigs(show, "both rigs playing", |s| {
        s.main.playing && s.backup.playing
    });
}

/// Every frame presented from `serial` until `until` accepts the latest, by number: never
/// frame 0, never backwards, never a jump of more than 6 frames (a skip under load, not a seek), and the last one
/// within 3 frames of where `daw` is (the rig that leads).
fn frames_follow(show: &HeadlessShow, serial: u64, daw: &Daw, what: &str) -> Vec<u32> {
    let frames = show.screen().kept_after(serial).expect("every frame kept");
    let numbers: Vec<u32> = frames
        .iter()
        .map(|f| f.frame_number(640, 360).expect("a frame code"))
        .collect();
    assert!(numbers.len() > 10, "{what}: too few frames: {numbers:?}");
    for pair in numbers.windows(2) {
        assert!(
            pair[1] >= pair[0] && pair[1] - pair[0] <= 6,
            "{what}: the picture jumped from {} to {} ({numbers:?})",
            pair[0],
            pair[1]
        );
    }
    assert!(
        !numbers.contains(&0),
        "{what}: frame 0 came back ({numbers:?})"
    );
    let last = frames.last().unwrap();
    let shown_at = last.rendered_at.expect("presented");
    let due = daw.frames_at(shown_at).expect("the rig sent clock");
    let n = *numbers.last().unwrap();
    assert!(
        (f64::from(n) - due).abs() <= 3.0,
        "{what}: frame {n} on screen where the leading rig was at {due:.1}"
    );
    numbers
}

/// The picture plays on a second (25 frames), and every frame since `serial` follows `daw`
/// (see [`frames_follow`]).
fn plays_on(show: &HeadlessShow, serial: u64, daw: &Daw, what: &str) {
    let at = common::headless_frame(show).unwrap();
    wait_frame(show, what, |n| n >= at + 25);
    frames_follow(show, serial, daw, what);
}

/// The Stop is handled and the frame held is the one due on `daw`'s timeline when it stopped
/// at `stop_at` (within 2 frames: the test's own send time against the DAW's).
fn holds_the_stop_frame(show: &HeadlessShow, daw: &Daw, stop_at: Instant) {
    common::wait_cue(show, |c| *c == Cue::Hold);
    let held = held_frame(show);
    let due = daw.frames_at(stop_at).unwrap();
    assert!(
        (f64::from(held) - due).abs() <= 2.0,
        "held frame {held}, the rig stopped at {due:.1}"
    );
}

#[test]
fn the_backup_is_watched_while_the_main_lives_and_a_stop_both_send_stops() {
    let (show, net) = player();
    let r = rigs(&net);
    play_both(&show, &r);
    let status = wait_rigs(&show, "the backup's offset", |s| {
        s.backup.offset_ms.is_some()
    });
    assert_eq!(status.leading, Rig::Main);
    assert!(status.main.heard && status.backup.heard);
    assert_eq!(status.main.name, "Main Live");
    assert!(
        status
            .backup
            .source
            .as_deref()
            .unwrap()
            .contains("Backup Live"),
        "{status:?}"
    );
    let offset = status.backup.offset_ms.unwrap();
    // What the test's thread really sent: the median gap between the same clock of each.
    let sent_lag_ms = {
        let (m, b) = (r.main.sent.lock().unwrap(), r.backup.sent.lock().unwrap());
        let mut gaps: Vec<f64> = b
            .iter()
            .filter_map(|(bt, n)| {
                let (mt, _) = m.iter().find(|(_, k)| k == n)?;
                Some(bt.duration_since(*mt).as_secs_f64() * 1000.0)
            })
            .collect();
        gaps.sort_by(f64::total_cmp);
        gaps[gaps.len() / 2]
    };
    // The player times the clocks by their receipt (no clock sync here): loopback and a
    // thread's wake-up add a little.
    assert!(
        (offset - sent_lag_ms).abs() <= 8.0,
        "backup offset {offset:.1} ms, sent {sent_lag_ms:.1} ms behind"
    );
    assert!((status.main.offset_ms.unwrap() + offset).abs() < 1e-9);

    // The backup stops, locates and starts again: the picture plays on with the main.
    show.screen().keep_frames(512);
    let serial = show.screen().latest().serial;
    r.backup.clock_on.store(false, Ordering::SeqCst);
    r.backup.send(&[&[0xFC]]);
    r.backup.send(&[&[0xF2, 0x40, 0x00]]);
    plays_on(&show, serial, &r.main, "the backup's Stop and locate");
    r.backup.start();
    wait_rigs(&show, "the backup playing again", |s| s.backup.playing);
    plays_on(&show, serial, &r.main, "the backup's Start from the top");
    show.screen().keep_frames(0);

    // Both stop, the backup 10 ms after the main: the main's Stop stands, at its time.
    r.main.clock_on.store(false, Ordering::SeqCst);
    r.backup.clock_on.store(false, Ordering::SeqCst);
    let stop_at = Instant::now();
    r.main.send(&[&[0xFC]]);
    std::thread::sleep(LAG);
    r.backup.send(&[&[0xFC]]);
    holds_the_stop_frame(&show, &r.main, stop_at);
    let status = wait_rigs(&show, "no failover", |_| true);
    assert_eq!((status.leading, status.failovers), (Rig::Main, 0));
}

#[test]
fn a_main_that_goes_silent_hands_over_to_the_backup_without_a_jump() {
    let (show, net) = player();
    let r = rigs(&net);
    play_both(&show, &r);
    show.screen().keep_frames(512);
    let serial = show.screen().latest().serial;
    // The main machine freezes: no Stop, no goodbye, its clock just stops.
    r.main.clock_on.store(false, Ordering::SeqCst);
    let status = wait_rigs(&show, "the failover", |s| s.leading == Rig::Backup);
    assert_eq!(status.failovers, 1);
    let told = status.last_failover.unwrap();
    assert!(told.contains("clock stopped"), "{told}");
    plays_on(&show, serial, &r.backup, "the failover");

    // The main comes back: watched, the backup leads until the next stop.
    r.main_rejoins();
    wait_rigs(&show, "the main heard playing", |s| s.main.playing);
    plays_on(&show, serial, &r.backup, "the main's return");
    show.screen().keep_frames(0);
    let status = wait_rigs(&show, "the backup still leading", |_| true);
    assert_eq!((status.leading, status.failovers), (Rig::Backup, 1));

    // The backup's Stop is the show's; the main leads the next song.
    r.backup.clock_on.store(false, Ordering::SeqCst);
    r.main.clock_on.store(false, Ordering::SeqCst);
    let stop_at = Instant::now();
    r.backup.send(&[&[0xFC]]);
    holds_the_stop_frame(&show, &r.backup, stop_at);
    r.main.send(&[&[0xFC]]);
    wait_rigs(&show, "the main leading again", |s| s.leading == Rig::Main);
}

#[test]
fn a_lone_stop_and_a_goodbye_from_the_main_are_failures_and_the_operator_switches_back() {
    let (show, net) = player();
    let r = rigs(&net);
    play_both(&show, &r);
    show.screen().keep_frames(512);
    let serial = show.screen().latest().serial;
    // A Stop from the main alone: the backup plays on, so the main failed.
    r.main.clock_on.store(false, Ordering::SeqCst);
    r.main.send(&[&[0xFC]]);
    let status = wait_rigs(&show, "the failover", |s| s.leading == Rig::Backup);
    assert!(
        status.last_failover.as_deref().unwrap().contains("Stop"),
        "{status:?}"
    );
    plays_on(&show, serial, &r.backup, "the lone Stop");

    // The main plays again in step; the operator switches back to it (the page, OSC and the
    // keys send this).
    r.main_rejoins();
    let status = wait_rigs(&show, "the main playing in step", |s| {
        s.main.playing && s.main.offset_ms.is_some()
    });
    let offset = status.main.offset_ms.unwrap();
    assert!(
        (-25.0..=5.0).contains(&offset),
        "main {offset:.1} ms from the backup"
    );
    let page = remote(&show);
    let (code, body) = http(page, "POST", "/api/lead/main", Some("s3cret"));
    assert_eq!(code, 202, "{body}");
    wait_rigs(&show, "the main leading", |s| s.leading == Rig::Main);
    // What the page and other tools read: `rigs` in /api/status.
    let (code, body) = http(page, "GET", "/api/status", None);
    assert_eq!(code, 200);
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    let rigs = &status["rigs"];
    assert_eq!(rigs["leading"], "main", "{rigs}");
    assert_eq!(rigs["main"]["name"], "Main Live", "{rigs}");
    assert_eq!(rigs["main"]["heard"], true, "{rigs}");
    assert_eq!(rigs["backup"]["name"], "127.0.0.22", "{rigs}");
    assert!(rigs["backup"]["offset_ms"].is_number(), "{rigs}");
    assert_eq!(rigs["failovers"], 1, "{rigs}");

    // The main says goodbye while playing: the backup leads again.
    let serial = show.screen().latest().serial;
    r.main.clock_on.store(false, Ordering::SeqCst);
    r.main.peer.lock().unwrap().bye().unwrap();
    let status = wait_rigs(&show, "the second failover", |s| s.failovers == 2);
    assert_eq!(status.leading, Rig::Backup);
    assert!(!status.main.heard, "{status:?}");
    assert!(
        status.last_failover.as_deref().unwrap().contains("left"),
        "{status:?}"
    );
    plays_on(&show, serial, &r.backup, "the goodbye");
    show.screen().keep_frames(0);
}
