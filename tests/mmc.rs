//! MIDI Machine Control against the real libmpv, headless, through real network-MIDI sockets
//! on loopback: a scripted DAW machine sends MMC Locate, Play and Stop as SysEx in RTP-MIDI
//! packets, and every assertion is about the frame on screen, read from the demo show's frame
//! code (25 fps: 00:00:10:00 is frame 250).

mod common;

use playhead::player::PlayerOptions;
use playhead::screen::headless::HeadlessShow;
use playhead::sources::network::{Network, NetworkOptions};
use playhead::transport::FollowMode;
use playhead_testkit::peer::{Answer, ScriptedPeer};
use playhead_testkit::FrameCode;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{headless_frame as on_screen, wait_headless_frame as wait_frame};

const MMC_PLAY: &[u8] = &[0xF0, 0x7F, 0x7F, 0x06, 0x02, 0xF7];
const MMC_STOP: &[u8] = &[0xF0, 0x7F, 0x7F, 0x06, 0x01, 0xF7];

/// MMC Locate to hh:mm:ss:ff at 25 fps (rate bits 01 in the hours byte), to `device`.
fn locate(device: u8, hours: u8, minutes: u8, seconds: u8, frames: u8) -> Vec<u8> {
    vec![
        0xF0,
        0x7F,
        device,
        0x06,
        0x44,
        0x06,
        0x01,
        (1 << 5) | hours,
        minutes,
        seconds,
        frames,
        0x00,
        0xF7,
    ]
}

fn chase_show() -> HeadlessShow {
    let _ = env_logger::builder().is_test(true).try_init();
    common::headless_demo(&PlayerOptions {
        follow: FollowMode::Chase,
        ..PlayerOptions::default()
    })
}

/// A DAW machine joined to the player's network-MIDI session.
fn joined_daw(show: &HeadlessShow) -> (Network, ScriptedPeer) {
    let options = NetworkOptions {
        rtp_port: 0,
        no_mdns: true,
        session_name: Some("playhead under test".into()),
        ..NetworkOptions::default()
    };
    let net = Network::start(&options, show.tx.clone()).expect("start network MIDI");
    let mut daw = ScriptedPeer::new("Logic", 0x7777_0001).expect("a socket for the DAW");
    let control = SocketAddr::from(([127, 0, 0, 1], net.control_port()));
    match daw.invite(control, Duration::from_secs(2)) {
        Ok(Answer::Accepted { .. }) => {}
        other => panic!("invitation not accepted: {other:?}"),
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while !net.peers().iter().any(|p| p.data_address.is_some()) {
        assert!(Instant::now() < deadline, "the DAW never joined");
        std::thread::sleep(Duration::from_millis(10));
    }
    (net, daw)
}

/// Asserts that the frame on screen stays `frame` across several newer frames of the screen.
fn holds(show: &HeadlessShow, frame: u32, what: &str) {
    let mut serial = show.screen().latest().serial;
    for _ in 0..5 {
        match show.screen().wait_newer(serial, Duration::from_millis(200)) {
            Some(f) => {
                serial = f.serial;
                assert_eq!(f.frame_number(640, 360), Some(frame), "{what}");
            }
            // A paused video draws nothing new: the last frame is what is on screen.
            None => assert_eq!(on_screen(show), Some(frame), "{what}"),
        }
    }
}

#[test]
fn mmc_locate_shows_the_frame_play_rolls_from_it_and_stop_holds() {
    let show = chase_show();
    let (_net, mut daw) = joined_daw(&show);
    assert_eq!(on_screen(&show), Some(0));

    // Locate while stopped: the still frame follows.
    daw.send_midi(&[&locate(0x7F, 0, 0, 10, 0)]).unwrap();
    let cued = wait_frame(&show, "the frame after Locate", |n| n != 0);
    assert_eq!(cued, 250, "00:00:10:00 at 25 fps is frame 250");
    holds(&show, 250, "the located frame stays while stopped");

    // A locate addressed to another device is not for this player.
    daw.send_midi(&[&locate(0x05, 0, 0, 40, 0)]).unwrap();
    daw.send_midi(&[&locate(0x7F, 0, 0, 20, 0)]).unwrap();
    let cued = wait_frame(&show, "the second locate", |n| n != 250);
    assert_eq!(cued, 500, "only the all-call locate is followed");

    // Play rolls from the located frame.
    daw.send_midi(&[MMC_PLAY]).unwrap();
    let rolled = wait_frame(&show, "playback after MMC Play", |n| n > 500);
    assert!(
        rolled <= 510,
        "Play starts from the located frame, got {rolled}"
    );
    wait_frame(&show, "playback", |n| n >= 525);

    // Stop holds.
    while show.notices.try_recv().is_ok() {}
    daw.send_midi(&[MMC_STOP]).unwrap();
    common::wait_cue(&show, |c| *c == playhead::transport::Cue::Hold);
    // Every redraw asked after the Stop was handled shows the same frame.
    let held = common::held_frame(&show);

    // Locate while playing jumps and keeps playing.
    daw.send_midi(&[MMC_PLAY]).unwrap();
    wait_frame(&show, "playing again", |n| n > held);
    daw.send_midi(&[&locate(0x7F, 0, 1, 0, 0)]).unwrap();
    wait_frame(&show, "the jump to 00:01:00:00", |n| n >= 1500);
    wait_frame(&show, "playing on after the jump", |n| n >= 1510);
}
