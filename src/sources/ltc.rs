//! LTC in: linear timecode read from an audio input (a JACK port or an ALSA capture device),
//! decoded by the core's [`LtcDecoder`], its frames' start times put on the one clock with
//! the input's latency taken off, and handed to the player.

use crate::messages::PlayerInput;
use crate::watchdog::{self, Watch};
use crossbeam_channel::Sender;
use log::{info, warn};
use playhead_core::ltc::{LtcDecoder, LtcFrame};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

pub use crate::messages::TimedTimecode;

/// Where LTC comes from (`--ltc SOURCE`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LtcInput {
    /// A JACK audio input port `playhead:ltc` (the JACK build only).
    Jack,
    /// An ALSA capture device (`default`, `hw:1,0`, a PipeWire or Pulse device through ALSA).
    Alsa(String),
}

impl LtcInput {
    /// `jack` or an ALSA device name.
    pub fn parse(text: &str) -> LtcInput {
        if text.trim().eq_ignore_ascii_case("jack") {
            LtcInput::Jack
        } else {
            LtcInput::Alsa(text.trim().to_string())
        }
    }
}

/// The sample rate asked of an ALSA device, Hz.
const ALSA_RATE_HZ: u32 = 48_000;

/// Turns a decoded frame into a [`TimedTimecode`]: sample number `known_sample` of the input
/// reached the input's connector `known_age_s` before `now` (the input's latency included).
fn timed(
    frame: &LtcFrame,
    sample_rate_hz: f64,
    known_sample: f64,
    known_age_s: f64,
    now: Instant,
    source: &Arc<str>,
) -> TimedTimecode {
    let age_s = (known_sample - frame.start_sample) / sample_rate_hz + known_age_s;
    let at = if age_s >= 0.0 {
        now.checked_sub(Duration::from_secs_f64(age_s.min(3600.0)))
            .unwrap_or(now)
    } else {
        now + Duration::from_secs_f64((-age_s).min(3600.0))
    };
    TimedTimecode {
        timecode: frame.timecode,
        at,
        received: now,
        measured_fps: frame.measured_fps,
        peak_level: frame.peak_level,
        source: source.clone(),
    }
}

/// Logs what the operator needs to know about the signal: when it starts (with its rate and
/// level) and when it stops.
#[derive(Default)]
struct SignalReport {
    last: Option<Instant>,
}

impl SignalReport {
    /// How long without a frame before the signal counts as gone for the log.
    const GONE: Duration = Duration::from_secs(1);

    fn frame(&mut self, t: &TimedTimecode) {
        if self
            .last
            .is_none_or(|l| t.received.duration_since(l) > Self::GONE)
        {
            info!(
                "LTC from {}: {} at {:.2} fps, level {:.1} dBFS",
                t.source,
                t.timecode,
                t.measured_fps,
                20.0 * f64::from(t.peak_level.max(1e-6)).log10()
            );
        }
        self.last = Some(t.received);
    }

    fn tick(&mut self, now: Instant) {
        if let Some(l) = self.last {
            if now.duration_since(l) > Self::GONE {
                info!("LTC stopped");
                self.last = None;
            }
        }
    }
}

/// Starts reading LTC from `input`; JACK ports whose names contain `connect` are connected
/// to it (JACK only). Errors that would leave the show without its timecode are returned.
pub fn spawn(
    input: &LtcInput,
    connect: Option<String>,
    tx: Sender<PlayerInput>,
) -> Result<(), String> {
    match input {
        LtcInput::Jack => spawn_jack(connect, tx),
        LtcInput::Alsa(device) => {
            if connect.is_some() {
                warn!("--ltc-connect is for --ltc jack; ALSA device '{device}' is read as it is");
            }
            let device = device.clone();
            thread::Builder::new()
                .name("ltc-alsa".into())
                .spawn(move || alsa::run(&device, tx))
                .map(|_| ())
                .map_err(|e| format!("cannot start the LTC thread: {e}"))
        }
    }
}

/// For `--check`: opens `input` and listens for up to `listen`; the first frame heard, or
/// `None` when the input opened but carried no timecode. Errors say why it cannot open.
pub fn probe(
    input: &LtcInput,
    connect: Option<String>,
    listen: Duration,
) -> Result<Option<TimedTimecode>, String> {
    if let LtcInput::Alsa(device) = input {
        // Opened here first, so that a missing device is an answer and not a retry loop.
        drop(alsa::open(device)?);
    }
    let (tx, rx) = crossbeam_channel::unbounded();
    spawn(input, connect, tx)?;
    let deadline = Instant::now() + listen;
    // The first frame after a (re)connection may be cut; the second is whole.
    let mut first = None;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(PlayerInput::Ltc(t)) if first.is_some() => return Ok(Some(t)),
            Ok(PlayerInput::Ltc(t)) => first = Some(t),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    Ok(first)
}

#[cfg(not(feature = "jack"))]
fn spawn_jack(_connect: Option<String>, _tx: Sender<PlayerInput>) -> Result<(), String> {
    Err(
        "--ltc jack needs playhead built with JACK (cargo build --features jack); \
         give an ALSA capture device instead, e.g. --ltc default or --ltc hw:1,0"
            .into(),
    )
}

#[cfg(feature = "jack")]
fn spawn_jack(connect: Option<String>, tx: Sender<PlayerInput>) -> Result<(), String> {
    jack_input::spawn(connect, tx)
}

#[cfg(feature = "jack")]
mod jack_input {
    //! The JACK audio port: decoded in JACK's process callback (no allocation there), frames
    //! passed to a thread of ours that forwards them and keeps the port connected.
    use super::*;
    use jack::{AudioIn, Client, ClientOptions, Control, LatencyType, Port, ProcessScope};

    struct Process {
        port: Port<AudioIn>,
        decoder: LtcDecoder,
        /// The JACK frame counter wraps at 2^32; this counts on.
        samples: Option<(u32, u64)>,
        source: Arc<str>,
        out: Sender<TimedTimecode>,
    }

    impl jack::ProcessHandler for Process {
        fn process(&mut self, client: &Client, ps: &ProcessScope) -> Control {
            let now = Instant::now();
            let jack_now_us = client.time();
            let samples = self.port.as_slice(ps);
            let first = ps.last_frame_time();
            let position = match self.samples {
                Some((previous, at)) => at.wrapping_add(u64::from(first.wrapping_sub(previous))),
                None => 0,
            };
            self.samples = Some((first, position));
            // The first sample of this cycle's buffer reached the system's input this many
            // frames before the cycle started (JACK's capture latency of our port).
            let (_, latency_frames) = self.port.get_latency_range(LatencyType::Capture);
            let rate_hz = f64::from(client.sample_rate().max(1));
            // When the cycle's first sample was, on JACK's clock: `frames_to_time` of the
            // cycle's first frame (jack_get_cycle_times, which the jack crate's `cycle_times`
            // calls, is missing from Debian 12's libjack: it always failed, and this callback
            // was taken to run at the cycle's start; it runs up to a few ms later).
            let cycle_us = client.frames_to_time(first);
            let since_cycle_s = jack_now_us.saturating_sub(cycle_us) as f64 / 1e6;
            let out = &self.out;
            let source = &self.source;
            self.decoder.feed(samples, position, |frame| {
                let t = timed(
                    &frame,
                    rate_hz,
                    position as f64,
                    f64::from(latency_frames) / rate_hz + since_cycle_s,
                    now,
                    source,
                );
                // Full only when the forwarding thread is stuck; the watchdog sees to that.
                let _ = out.try_send(t);
            });
            Control::Continue
        }
    }

    pub(super) fn spawn(connect: Option<String>, tx: Sender<PlayerInput>) -> Result<(), String> {
        let (client, _status) = Client::new("playhead", ClientOptions::NO_START_SERVER)
            .map_err(|e| format!("cannot reach the JACK server for --ltc jack: {e}"))?;
        let port = client
            .register_port("ltc", AudioIn::default())
            .map_err(|e| format!("cannot register the JACK port for LTC: {e}"))?;
        let port_name = port
            .name()
            .map_err(|e| format!("the JACK port for LTC has no name: {e}"))?;
        let (frames_tx, frames_rx) = crossbeam_channel::bounded::<TimedTimecode>(256);
        let process = Process {
            port,
            decoder: LtcDecoder::new(client.sample_rate()),
            samples: None,
            source: Arc::from(port_name.as_str()),
            out: frames_tx,
        };
        let active = client
            .activate_async((), process)
            .map_err(|e| format!("cannot start the JACK port for LTC: {e}"))?;
        info!("LTC input: JACK port {port_name}");
        thread::Builder::new()
            .name("ltc-jack".into())
            .spawn(move || {
                let heartbeat =
                    watchdog::register("ltc-jack", Watch::Beats(watchdog::DEFAULT_HANG_LIMIT));
                let mut report = SignalReport::default();
                let mut connected: Vec<String> = Vec::new();
                let mut next_scan = Instant::now();
                loop {
                    heartbeat.beat();
                    match frames_rx.recv_timeout(Duration::from_millis(200)) {
                        Ok(t) => {
                            report.frame(&t);
                            if tx.send(PlayerInput::Ltc(t)).is_err() {
                                break;
                            }
                        }
                        Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
                    }
                    let now = Instant::now();
                    report.tick(now);
                    if now >= next_scan {
                        next_scan = now + Duration::from_secs(1);
                        if let Some(text) = &connect {
                            connect_matching(active.as_client(), text, &port_name, &mut connected);
                        }
                    }
                }
                heartbeat.done();
                drop(active);
            })
            .map(|_| ())
            .map_err(|e| format!("cannot start the LTC thread: {e}"))
    }

    /// Connects every JACK audio output whose name contains `text` to our port (once each,
    /// and again after it went away and came back).
    fn connect_matching(client: &Client, text: &str, ours: &str, connected: &mut Vec<String>) {
        let outputs = client.ports(None, Some("audio"), jack::PortFlags::IS_OUTPUT);
        connected.retain(|c| outputs.contains(c));
        for name in outputs.iter().filter(|n| n.contains(text)) {
            if connected.contains(name) {
                continue;
            }
            match client.connect_ports_by_name(name, ours) {
                Ok(()) => {
                    info!("LTC: connected JACK port {name} to {ours}");
                    connected.push(name.clone());
                }
                Err(e) => {
                    warn!("LTC: cannot connect JACK port {name} to {ours}: {e}");
                    connected.push(name.clone());
                }
            }
        }
    }
}

mod alsa {
    //! An ALSA capture device, read by a thread of ours (blocking reads of one period).
    use super::*;
    use ::alsa::pcm::{Access, Format, HwParams, PCM};
    use ::alsa::{Direction, ValueOr};

    /// Samples per read, per channel (about 5 ms at 48 kHz).
    const PERIOD_FRAMES: usize = 256;

    pub(super) fn open(device: &str) -> Result<(PCM, u32, usize), String> {
        let pcm = PCM::new(device, Direction::Capture, false)
            .map_err(|e| format!("cannot open ALSA capture device '{device}': {e}"))?;
        let (rate, channels) = {
            let hw = HwParams::any(&pcm).map_err(|e| e.to_string())?;
            hw.set_access(Access::RWInterleaved)
                .map_err(|e| e.to_string())?;
            hw.set_format(Format::s16()).map_err(|e| e.to_string())?;
            // Mono where the device has it; otherwise the first channel of two.
            if hw.set_channels(1).is_err() {
                hw.set_channels(2).map_err(|e| e.to_string())?;
            }
            hw.set_rate_near(ALSA_RATE_HZ, ValueOr::Nearest)
                .map_err(|e| e.to_string())?;
            let _ = hw.set_period_size_near(PERIOD_FRAMES as i64, ValueOr::Nearest);
            pcm.hw_params(&hw)
                .map_err(|e| format!("ALSA device '{device}' refuses the settings: {e}"))?;
            let rate = hw.get_rate().map_err(|e| e.to_string())?;
            let channels = hw.get_channels().map_err(|e| e.to_string())?;
            (rate, channels.max(1) as usize)
        };
        pcm.start().map_err(|e| e.to_string())?;
        Ok((pcm, rate, channels))
    }

    /// Opens and reads the device until the player is gone; reopens it after errors (an
    /// interface unplugged and plugged back), saying so once each time.
    pub(super) fn run(device: &str, tx: Sender<PlayerInput>) {
        // A blocked read of an unplugged device must not end the show: only death is watched.
        let heartbeat = watchdog::register("ltc-alsa", Watch::DeathOnly);
        let source: Arc<str> = Arc::from(format!("ALSA {device}").as_str());
        let mut report = SignalReport::default();
        let mut last_error = String::new();
        loop {
            let (pcm, rate, channels) = match open(device) {
                Ok(opened) => opened,
                Err(e) => {
                    if e != last_error {
                        warn!("LTC: {e}; retrying every second");
                        last_error = e;
                    }
                    thread::sleep(Duration::from_secs(1));
                    continue;
                }
            };
            last_error.clear();
            info!("LTC input: ALSA device '{device}', {rate} Hz, {channels} channel(s)");
            let mut decoder = LtcDecoder::new(rate);
            let Ok(io) = pcm.io_i16() else {
                warn!("LTC: ALSA device '{device}' gives no 16-bit samples");
                thread::sleep(Duration::from_secs(1));
                continue;
            };
            let mut buffer = vec![0i16; PERIOD_FRAMES * channels];
            let mut mono = vec![0f32; PERIOD_FRAMES];
            let mut position = 0u64;
            loop {
                heartbeat.beat();
                let frames = match io.readi(&mut buffer) {
                    Ok(n) => n,
                    Err(e) => {
                        // An overrun: samples were lost; the decoder sees the gap.
                        if pcm.try_recover(e, true).is_err() {
                            warn!("LTC: ALSA device '{device}' failed: {e}; reopening");
                            break;
                        }
                        position += PERIOD_FRAMES as u64;
                        continue;
                    }
                };
                let now = Instant::now();
                // Frames captured but not yet read, plus the converter's and hardware's delay.
                let delay_frames = pcm.delay().unwrap_or(0).max(0) as f64;
                for (m, s) in mono.iter_mut().zip(buffer.chunks(channels)).take(frames) {
                    *m = f32::from(s.first().copied().unwrap_or(0)) / 32768.0;
                }
                let newest = (position + frames as u64).saturating_sub(1) as f64;
                let mut gone = false;
                decoder.feed(&mono[..frames], position, |frame| {
                    let t = timed(
                        &frame,
                        f64::from(rate),
                        newest,
                        delay_frames / f64::from(rate),
                        now,
                        &source,
                    );
                    report.frame(&t);
                    gone |= tx.send(PlayerInput::Ltc(t)).is_err();
                });
                report.tick(now);
                position += frames as u64;
                if gone {
                    heartbeat.done();
                    return;
                }
            }
        }
    }
}
