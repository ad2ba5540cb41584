//! The `playhead` program: wires the threads together and turns every failure into one line
//! the operator can act on.

use clap::Parser;
use log::info;
use playhead::cli::{Cli, Command};
use playhead::player::{self, Player, PlayerInput, PlayerOptions};
use playhead::screen::{self, ScreenEvent, ScreenOptions};
use playhead::{bench, clock, headless, input};
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    clock::mark_process_start();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_millis()
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("playhead: error: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    if let Some(Command::Bench(args)) = cli.command {
        return bench::run(&args);
    }
    if cli.list_midi_ports {
        match input::list_os_ports() {
            Ok(ports) if ports.is_empty() => println!("no MIDI input ports"),
            Ok(ports) => ports.iter().for_each(|p| println!("{p}")),
            Err(e) => println!("{e}"),
        }
        return Ok(());
    }
    let video = cli.video.clone().unwrap_or_else(playhead::cli::demo_video);
    player::check_video_file(&video)?;
    info!(
        "playhead {} with libmpv client API {}.{}, video '{}'",
        env!("CARGO_PKG_VERSION"),
        playhead::mpv::client_api_version().0,
        playhead::mpv::client_api_version().1,
        video.display()
    );
    let options = PlayerOptions {
        audio: cli.audio,
        hwdec: cli.hwdec.clone(),
        follow: cli.follow,
        chase: cli.chase_settings()?,
    };

    if cli.headless {
        return run_headless(&cli, &video, &options);
    }

    let (tx, rx) = crossbeam_channel::unbounded();
    start_inputs(&cli, &tx)?;
    let (mpv, events) = player::create_mpv(&options).map_err(|e| e.to_string())?;
    let screen_options = ScreenOptions {
        fullscreen: !cli.windowed,
        screen: cli.screen.map(usize::from),
        kiosk: cli.kiosk,
        title: format!(
            "playhead: {}",
            video.file_name().unwrap_or_default().to_string_lossy()
        ),
    };
    let transport = options.transport()?;
    let player_mpv = mpv.clone();
    let (handle_tx, handle_rx) = crossbeam_channel::bounded(1);
    let start_player: screen::StartPlayer = Box::new(move |proxy| {
        let player = Player::new(player_mpv, events, video, transport, move |notice| {
            let _ = proxy.send_event(ScreenEvent::Player(notice));
        });
        match std::thread::Builder::new()
            .name("player".into())
            .spawn(move || player.run(rx))
        {
            Ok(h) => {
                let _ = handle_tx.send(h);
            }
            Err(e) => log::error!("cannot start the player thread: {e}"),
        }
    });
    let result = screen::run(mpv, screen_options, tx.clone(), start_player);
    let _ = tx.send(PlayerInput::Quit);
    if let Ok(h) = handle_rx.recv_timeout(Duration::from_secs(1)) {
        let _ = h.join();
    }
    result
}

fn start_inputs(cli: &Cli, tx: &crossbeam_channel::Sender<PlayerInput>) -> Result<(), String> {
    input::spawn_os_ports(cli.midi_port.clone(), tx.clone())
        .map_err(|e| format!("cannot start the MIDI port thread: {e}"))?;
    for path in &cli.midi_device {
        input::spawn_raw_device(path.clone(), tx.clone())
            .map_err(|e| format!("cannot start the MIDI device thread: {e}"))?;
    }
    Ok(())
}

/// Plays into memory with no window until killed: for benchmarks and tests.
fn run_headless(cli: &Cli, video: &std::path::Path, options: &PlayerOptions) -> Result<(), String> {
    let show = headless::HeadlessShow::start(video, options, 640, 360)?;
    start_inputs(cli, &show.tx)?;
    loop {
        match show.notices.recv() {
            Ok(player::Notice::Fatal(msg)) => return Err(msg),
            Ok(_) => {}
            Err(_) => return Ok(()),
        }
    }
}
