//! The `playhead` program: wires the threads together and turns every failure into one line
//! the operator can act on.

use clap::{ArgMatches, CommandFactory, FromArgMatches};
use log::info;
use playhead::cli::Cli;
use playhead::error::Error;
use playhead::player::{self, Player, PlayerInput, PlayerOptions};
use playhead::screen::headless;
use playhead::screen::stage::Stage;
use playhead::screen::ScreenEvent as ScreenMsg;
use playhead::screen::{self, ScreenEvent, ScreenOptions};
use playhead::show::{self, Show};
use playhead::sources as input;
use playhead::transport::FollowMode;
use playhead::{clock, preflight, watchdog};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn main() -> ExitCode {
    clock::mark_process_start();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_millis()
        .init();
    watchdog::install_panic_hook();
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match run(cli, &matches) {
        Ok(code) => code,
        Err(msg) => {
            // After SIGHUP the terminal may be gone: a failed write must not panic.
            let _ = writeln!(std::io::stderr(), "playhead: error: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// True when the option was typed on the command line (not a default), so it overrides the
/// show file.
fn given(matches: &ArgMatches, id: &str) -> bool {
    matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
}

/// The show to play: the file or video named on the command line, else a show file in the
/// usual places, else the demo.
fn find_show(cli: &Cli) -> Result<Show, Error> {
    if cli.test_card {
        return Ok(Show::single(playhead_core::test_card::TEST_CARD.into()));
    }
    if let Some(arg) = &cli.video {
        if show::is_show_file(arg) {
            return Ok(Show::load(arg)?);
        }
        return Ok(Show::single(arg.clone()));
    }
    for place in show::default_locations() {
        if place.is_file() {
            info!("show file: {}", place.display());
            return Ok(Show::load(&place)?);
        }
    }
    Ok(Show::single(playhead::cli::demo_video()))
}

/// Folds the show file's settings and the command line together: an option typed on the
/// command line wins over the show file, the show file over the defaults.
fn merge(cli: &mut Cli, matches: &ArgMatches, show: &Show) {
    if !given(matches, "follow") {
        if let Some(f) = show.follow {
            cli.follow = f;
        }
    }
    if !given(matches, "offset_ms") {
        if let Some(o) = show.offset_ms {
            cli.offset_ms = o;
        }
    }
    if cli.screen.is_none() {
        cli.screen = show.screen;
    }
    if cli.link_quantum.is_none() {
        cli.link_quantum = show.link_quantum;
    }
    cli.midi_device.extend(show.midi_devices.iter().cloned());
    if cli.network.session_name.is_none() {
        cli.network.session_name = show.session_name.clone();
    }
    if cli.remote.is_none() {
        cli.remote = show.remote;
    }
    if cli.remote_token.is_none() {
        cli.remote_token = show.remote_token.clone();
    }
    if cli.remote_cert.is_none() {
        if let Some((cert, key)) = &show.remote_cert {
            cli.remote_cert = Some(cert.clone());
            cli.remote_key = Some(key.clone());
        }
    }
    if cli.osc.is_none() {
        cli.osc = show.osc;
    }
}

/// The show's outputs as windows, each with how much later than the slowest screen it shows
/// each frame. Frames go out early by the largest latency offset of the outputs (each
/// output's own `offset_ms`, else the show's): `cli.offset_ms` becomes that one.
fn output_windows(cli: &mut Cli, show: &mut Show) -> Vec<screen::window::OutputWindow> {
    if show.outputs.is_empty() {
        return Vec::new();
    }
    if cli.screen.is_some() && show.screen.is_none() {
        log::warn!("--screen is not used: the show's outputs name their monitors");
    }
    let (lead, delays) = playhead::outputs::delays_ms(&show.outputs, cli.offset_ms);
    // Each output's offset as it is in force (its own, or the show's), for the status.
    for o in &mut show.outputs {
        o.offset_ms = Some(o.offset_ms.unwrap_or(cli.offset_ms));
    }
    cli.offset_ms = lead;
    show.outputs
        .iter()
        .zip(delays)
        .map(|(o, delay_ms)| {
            info!(
                "output '{}': {}, latency offset {:+.1} ms{}",
                o.name,
                o.monitor
                    .as_ref()
                    .map_or("the primary screen".to_string(), |m| m.to_string()),
                lead - delay_ms,
                match o.crop {
                    Some(c) => format!(
                        ", showing [{}, {}, {}, {}] of the video",
                        c.x, c.y, c.width, c.height
                    ),
                    None => String::new(),
                }
            );
            screen::window::OutputWindow {
                name: o.name.clone(),
                monitor: o.monitor.clone(),
                delay: Duration::from_secs_f64(delay_ms.max(0.0) / 1000.0),
            }
        })
        .collect()
}

/// Starts the remote status page and OSC, when asked for. They read the player's published
/// status and send commands into its channel; nothing of theirs runs on the player thread.
fn start_remotes(
    cli: &Cli,
    board: Arc<playhead::player::status::StatusBoard>,
    tx: &crossbeam_channel::Sender<PlayerInput>,
    decks: Vec<playhead::mpv::Mpv>,
    stage: Stage,
    network: Option<&playhead::sources::network::Network>,
    warnings: playhead::remote::Warnings,
) -> Result<(), Error> {
    let allow =
        playhead::remote::RemoteAllow::from_rules(&cli.network.allow).map_err(Error::Remote)?;
    if let Some(listen) = cli.remote {
        let config = playhead::remote::RemoteConfig {
            listen,
            token: cli.remote_token.clone(),
            tls: Some(Arc::new(
                playhead::remote::tls::for_cli(cli).map_err(Error::Remote)?,
            )),
            allow: allow.clone(),
            peers: network.map(|n| {
                let reader: playhead::remote::PeerReader = Arc::new(n.peer_reader());
                reader
            }),
            warnings,
        };
        let thumbnails = playhead::remote::thumbnail::Thumbnailer::new(decks, stage);
        playhead::remote::start(config, board.clone(), tx.clone(), thumbnails)
            .map_err(Error::Remote)?;
    }
    if let Some(listen) = cli.osc {
        // Lives as long as the program: the OSC threads run until it ends.
        playhead::osc::start(listen, allow, board, tx.clone()).map_err(Error::Remote)?;
    }
    if cli.remote.is_none() && cli.remote_token.is_some() {
        log::warn!("--remote-token is set but --remote is not: no status page is served");
    }
    Ok(())
}

fn port_filters(cli: &Cli, show: &Show) -> Vec<String> {
    match &cli.midi_port {
        Some(p) => vec![p.clone()],
        None => show.midi_ports.clone(),
    }
}

fn run(mut cli: Cli, matches: &ArgMatches) -> Result<ExitCode, Error> {
    if cli.list_midi_ports {
        return match input::list_os_ports() {
            Ok(ports) if ports.is_empty() => {
                println!("no MIDI input ports");
                Ok(ExitCode::SUCCESS)
            }
            Ok(ports) => {
                ports.iter().for_each(|p| println!("{p}"));
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => Err(Error::Input(e)),
        };
    }
    if cli.check {
        let report = match find_show(&cli) {
            Ok(mut show) => {
                merge(&mut cli, matches, &show);
                let tempo = cli.chase_settings().ok().and_then(|c| c.tempo_map);
                if let Err(e) = playhead::test_card::prepare(&mut show, tempo.as_ref()) {
                    log::error!("{e}");
                }
                let filters = port_filters(&cli, &show);
                preflight::check(&show, &cli, &filters)
            }
            Err(e) => preflight::Report::show_file_error(e.to_string()),
        };
        print!("{report}");
        return Ok(if report.failed() {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        });
    }

    let mut show = find_show(&cli)?;
    merge(&mut cli, matches, &show);
    let output_windows = output_windows(&mut cli, &mut show);
    // A tempo typed on the command line holds for every song (the player uses a song's own
    // tempo only where none is set here); so does a typed timecode start, below.
    let chase = cli.chase_settings()?;
    playhead::test_card::prepare(&mut show, chase.tempo_map.as_ref()).map_err(Error::Video)?;
    let spare_card = playhead::test_card::spare_card(&show, chase.tempo_map.as_ref());
    if show.songs.len() == 1 {
        player::check_video_file(&show.songs[0].video).map_err(Error::Video)?;
    }
    let cli_timecode = given(matches, "timecode_start");
    info!(
        "playhead {} with libmpv client API {}.{}, show '{}' ({} song{})",
        env!("CARGO_PKG_VERSION"),
        playhead::mpv::client_api_version().0,
        playhead::mpv::client_api_version().1,
        show.name,
        show.songs.len(),
        if show.songs.len() == 1 { "" } else { "s" }
    );
    if cli_timecode {
        for song in &mut show.songs {
            song.timecode_start = Some(chase.video_start);
        }
    }
    let options = PlayerOptions {
        audio: cli.audio,
        hwdec: cli.hwdec.clone(),
        follow: cli.follow,
        chase,
        spare_card,
    };

    // What the start-up checks find goes to the log and to the remote page.
    let warnings = playhead::remote::Warnings::default();
    if cli.follow == FollowMode::Chase {
        spawn_locate_check(
            show.songs.iter().map(|s| s.video.clone()).collect(),
            warnings.clone(),
        );
    }

    watchdog::start(|failure| {
        let _ = writeln!(std::io::stderr(), "playhead: error: {failure}");
    })
    .map_err(Error::thread("watchdog"))?;
    let filters = port_filters(&cli, &show);
    if cli.headless && !show.outputs.is_empty() {
        log::warn!(
            "--headless draws one picture: the show's {} outputs are not drawn each on its own",
            show.outputs.len()
        );
    }
    let outputs = if cli.headless {
        screen::Outputs::Headless {
            width: 640,
            height: 360,
        }
    } else {
        screen::Outputs::Windows(ScreenOptions {
            fullscreen: !cli.windowed,
            screen: cli.screen.map(usize::from),
            kiosk: cli.kiosk,
            title: format!("playhead: {}", show.name),
            outputs: output_windows,
        })
    };

    // The one place the program is wired: the player's input channel, every input, the
    // decks, the stage the player cues the screens on, the player, the remotes; then the
    // outputs draw until the show ends.
    let (tx, rx) = player::lanes::input_channel();
    let network = start_inputs(&cli, &filters, &tx)?;
    let shutdown = Shutdown::new(tx.clone());
    shutdown.listen()?;
    let cores = player::create_decks(&show, &options).map_err(Error::Video)?;
    let decks: Vec<_> = cores.iter().map(|(m, _)| m.clone()).collect();
    let (cues, stage) = screen::stage::channel();
    let player = Player::for_show(show, cores, options, cues, |_| {}).map_err(Error::Video)?;
    start_remotes(
        &cli,
        player.status_board(),
        &tx,
        decks.clone(),
        stage.clone(),
        network.as_ref(),
        warnings.clone(),
    )?;
    // Once the outputs close: goodbye to network-MIDI peers and the mDNS advertisement
    // withdrawn, before the player is waited for.
    let goodbye = move || drop(network);
    let result = match outputs {
        screen::Outputs::Headless { width, height } => {
            headless::run(&decks, stage, player, (&tx, rx), (width, height), goodbye)
                .map_err(Error::Player)
        }
        screen::Outputs::Windows(screen_options) => run_windows(
            decks,
            stage,
            player,
            screen_options,
            (&tx, rx),
            shutdown,
            goodbye,
        ),
    };
    result.map(|()| ExitCode::SUCCESS)
}

/// Draws the show in windows: the player's thread starts once they and their renderers
/// exist, and ends when they close (after `goodbye`).
fn run_windows(
    decks: Vec<playhead::mpv::Mpv>,
    stage: Stage,
    player: Player,
    screen_options: ScreenOptions,
    (tx, rx): (
        &crossbeam_channel::Sender<PlayerInput>,
        crossbeam_channel::Receiver<PlayerInput>,
    ),
    shutdown: Shutdown,
    goodbye: impl FnOnce(),
) -> Result<(), Error> {
    let (handle_tx, handle_rx) = crossbeam_channel::bounded(1);
    let start_player: screen::StartPlayer = Box::new(move |proxy| {
        shutdown.window_is_up(proxy.clone());
        let proxy_for_error = proxy.clone();
        let player = player.with_notify(move |notice| {
            let _ = proxy.send_event(ScreenEvent::Player(notice));
        });
        match std::thread::Builder::new()
            .name("player".into())
            .spawn(move || player.run(rx))
        {
            Ok(h) => {
                let _ = handle_tx.send(h);
            }
            Err(e) => {
                let _ = proxy_for_error.send_event(ScreenEvent::Player(player::Notice::Fatal(
                    format!("cannot start the player thread: {e}"),
                )));
            }
        }
    });
    // Held until the window is gone; dropping it gives DPMS back and releases the inhibitors.
    let screen_on = playhead::screen::screen_on::keep_screen_on();
    let result = screen::run(decks, stage, screen_options, tx.clone(), start_player);
    drop(screen_on);
    goodbye();
    let _ = tx.send(PlayerInput::Quit);
    if let Ok(h) = handle_rx.recv_timeout(Duration::from_secs(1)) {
        let _ = h.join();
    }
    result
}

/// A clean stop on SIGTERM (what `systemctl stop` sends), SIGINT (Ctrl+C) and SIGHUP (the
/// terminal or SSH session playhead was started from closed): the player is told to quit and
/// the window to close; `run` then gives the screensaver and DPMS back, says goodbye to
/// network-MIDI peers, withdraws the mDNS advertisement, waits for the player, and the
/// program exits with status 0.
#[derive(Clone)]
struct Shutdown {
    player: crossbeam_channel::Sender<PlayerInput>,
    /// The window's proxy once it is up, and whether a stop was asked for before that.
    window: Arc<Mutex<(Option<winit::event_loop::EventLoopProxy<ScreenMsg>>, bool)>>,
}

/// How long the clean stop may take before playhead ends anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

impl Shutdown {
    fn new(player: crossbeam_channel::Sender<PlayerInput>) -> Shutdown {
        Shutdown {
            player,
            window: Arc::new(Mutex::new((None, false))),
        }
    }

    /// Starts the thread that waits for the signals.
    fn listen(&self) -> Result<(), Error> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let mut wanted = vec![SIGTERM, SIGINT];
        // Started under nohup (SIGHUP ignored): a closed terminal must not stop the show.
        if !sighup_ignored() {
            wanted.push(SIGHUP);
        }
        let mut signals =
            signal_hook::iterator::Signals::new(wanted).map_err(Error::thread("signals"))?;
        let this = self.clone();
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                if let Some(signal) = signals.forever().next() {
                    let name = match signal {
                        SIGINT => "SIGINT",
                        SIGHUP => "SIGHUP",
                        _ => "SIGTERM",
                    };
                    info!("{name} received: stopping the show");
                    // The grace starts before anything else: whatever the clean stop waits
                    // on, playhead is gone within it.
                    let _ = std::thread::Builder::new()
                        .name("shutdown-grace".into())
                        .spawn(|| {
                            std::thread::sleep(SHUTDOWN_GRACE);
                            log::error!(
                                "the clean stop took more than {} s; ending now",
                                SHUTDOWN_GRACE.as_secs()
                            );
                            std::process::exit(1);
                        });
                    this.begin();
                }
            })
            .map(|_| ())
            .map_err(Error::thread("signals"))
    }

    fn begin(&self) {
        // The window first: closing it ends the show even if the player's channel is full.
        if let Ok(mut window) = self.window.lock() {
            window.1 = true;
            if let Some(proxy) = &window.0 {
                let _ = proxy.send_event(ScreenMsg::Shutdown);
            }
        }
        let _ = self
            .player
            .send_timeout(PlayerInput::Quit, Duration::from_secs(1));
    }

    /// The window is up: a stop asked for before now closes it at once.
    fn window_is_up(&self, proxy: winit::event_loop::EventLoopProxy<ScreenMsg>) {
        if let Ok(mut window) = self.window.lock() {
            if window.1 {
                let _ = proxy.send_event(ScreenMsg::Shutdown);
            }
            window.0 = Some(proxy);
        }
    }
}

/// True when SIGHUP was ignored when playhead started (`nohup playhead ...`): it then stays
/// ignored, as the one who started it asked.
fn sighup_ignored() -> bool {
    // SAFETY: sigaction with a null new action only reads the current one into `old`.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGHUP, std::ptr::null(), &mut old) == 0
            && old.sa_sigaction == libc::SIG_IGN
    }
}

/// Starts every MIDI input; the returned network session lives as long as the caller keeps it.
fn start_inputs(
    cli: &Cli,
    filters: &[String],
    tx: &crossbeam_channel::Sender<PlayerInput>,
) -> Result<Option<playhead::sources::network::Network>, Error> {
    if cli.link {
        start_link(cli, tx).map_err(Error::Input)?;
    }
    // LTC first: its JACK client then gets the name "playhead" (port playhead:ltc).
    if let Some(source) = &cli.ltc {
        let input = playhead::sources::ltc::LtcInput::parse(source);
        playhead::sources::ltc::spawn(&input, cli.ltc_connect.clone(), tx.clone())
            .map_err(Error::Input)?;
    }
    input::spawn_os_ports(filters.to_vec(), tx.clone()).map_err(Error::thread("MIDI ports"))?;
    for path in &cli.midi_device {
        input::spawn_raw_device(path.clone(), tx.clone()).map_err(Error::thread("MIDI device"))?;
    }
    playhead::sources::network::spawn(&cli.network, tx.clone()).map_err(Error::Input)
}

/// Joins the Ableton Link session (the `link` build).
#[cfg(feature = "link")]
fn start_link(cli: &Cli, tx: &crossbeam_channel::Sender<PlayerInput>) -> Result<(), String> {
    let quantum = cli.link_quantum.unwrap_or(4);
    playhead::sources::link::spawn(f64::from(quantum), tx.clone())
        .map_err(|e| format!("cannot start the Ableton Link thread: {e}"))
}

/// Without the `link` build, `--link` says how to get it.
#[cfg(not(feature = "link"))]
fn start_link(_cli: &Cli, _tx: &crossbeam_channel::Sender<PlayerInput>) -> Result<(), String> {
    Err("--link needs playhead built with Ableton Link (this one was built with --no-default-features)".into())
}

/// Chasing locates; a file with few keyframes locates slowly. Measure it once the show is up
/// (in an mpv core of its own, so the picture is not touched) and tell the operator.
fn spawn_locate_check(videos: Vec<PathBuf>, warnings: playhead::remote::Warnings) {
    let _ = std::thread::Builder::new()
        .name("locate-check".into())
        .spawn(move || {
            // Let the player arm first: start-up speed matters more.
            std::thread::sleep(Duration::from_secs(2));
            for video in videos {
                match preflight::probe_video(&video, 3) {
                    // Found before playback reaches the place where the picture would freeze.
                    Ok(preflight::VideoProbe {
                        ends_early: Some(e),
                        ..
                    }) => {
                        log::warn!("{e}");
                        if let Ok(mut w) = warnings.lock() {
                            w.push(e);
                        }
                    }
                    Ok(p) if p.locates_slowly() => {
                        let advice = preflight::slow_locate_advice(&video, &p);
                        log::warn!("{advice}");
                        if let Ok(mut w) = warnings.lock() {
                            w.push(advice);
                        }
                    }
                    Ok(p) => info!(
                        "locating in '{}' takes up to {} ms",
                        video.display(),
                        p.slowest_locate.as_millis()
                    ),
                    Err(e) => log::warn!("could not measure how fast the video locates: {e}"),
                }
            }
        });
}
