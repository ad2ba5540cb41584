//! Finds libmpv through pkg-config. The crate binds a small part of mpv's C API by hand
//! (see `src/mpv/ffi.rs`), so it needs only the shared library and its pkg-config file.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    match pkg_config::Config::new()
        .atleast_version("1.109")
        .probe("mpv")
    {
        Ok(_) => {}
        Err(err) => {
            eprintln!();
            eprintln!("error: libmpv was not found: {err}");
            eprintln!("playhead links against libmpv (mpv 0.35 or newer).");
            eprintln!(
                "On Debian or Ubuntu install it with:  sudo apt-get install libmpv-dev pkg-config"
            );
            eprintln!("On Fedora:  sudo dnf install mpv-libs-devel pkgconf");
            eprintln!();
            std::process::exit(1);
        }
    }
}
