//! A thin, safe wrapper over libmpv's client API.
//!
//! Ownership is explicit: [`Mpv`] is a cheap, cloneable, thread-safe handle (mpv documents its
//! client API as thread-safe unless noted otherwise); [`Events`] is the one reader of mpv's
//! event queue (mpv allows only one thread in `mpv_wait_event`); a render context
//! ([`render::SwRenderContext`], [`render::GlRenderContext`]) keeps the core alive for as long as
//! it draws.
//!
//! # Which thread destroys the core
//!
//! Every [`Mpv`], the [`Events`] and each render context hold one reference to the core; the
//! thread that drops the last of them runs `mpv_terminate_destroy`, which blocks until mpv has
//! shut playback down. Two orderings follow from the types rather than from care:
//! - a render context is freed before the core, as mpv requires: the context holds a reference,
//!   so the core cannot go while it exists, and its `Drop` frees the context before letting go;
//! - no callback runs the destroy, nor keeps the core alive: callbacks are [`Wake`]rs, which
//!   cannot hold an [`Mpv`] (see there), and they are removed before their owner lets go.
//!
//! In playhead the last reference goes on the player thread once its loop has ended (the
//! program joins it after the window has freed its renderers), or, when that thread ended first,
//! on the thread that shuts the show down (the main thread, or a headless render thread); all
//! of them may wait for mpv, and none is an mpv thread.

mod ffi;
pub mod render;

use std::ffi::{c_void, CStr, CString};
use std::fmt;
use std::os::raw::c_int;
use std::path::Path;
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// mpv's `MPV_ERROR_INVALID_PARAMETER`: what playhead reports for arguments it refuses before
/// they reach mpv.
pub const ERROR_INVALID_PARAMETER: i32 = -4;

/// An error returned by libmpv, with what playhead was doing when it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MpvError {
    /// libmpv's error code (negative).
    pub code: i32,
    /// What was being done, e.g. `set property pause`.
    pub context: String,
}

impl fmt::Display for MpvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.context, error_string(self.code))
    }
}

impl std::error::Error for MpvError {}

/// libmpv's own text for an error code.
pub fn error_string(code: i32) -> String {
    // SAFETY: mpv_error_string returns a static string for every code, known or not.
    unsafe { CStr::from_ptr(ffi::mpv_error_string(code)) }
        .to_string_lossy()
        .into_owned()
}

fn check(code: c_int, context: impl FnOnce() -> String) -> Result<(), MpvError> {
    if code < 0 {
        Err(MpvError {
            code,
            context: context(),
        })
    } else {
        Ok(())
    }
}

/// `bytes` as a C string. A NUL inside is an error, not a silent cut: C would end the string
/// there, and mpv would act on (or open) something other than what was asked for.
fn cstring(bytes: &[u8], what: impl FnOnce() -> String) -> Result<CString, MpvError> {
    CString::new(bytes).map_err(|_| MpvError {
        code: ERROR_INVALID_PARAMETER,
        context: format!(
            "{}: it contains a NUL byte, which mpv cannot be given",
            what()
        ),
    })
}

/// `path` as mpv's `loadfile` should get it: the OS's bytes, `./` before a relative path.
fn file_argument(path: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    let mut bytes = Vec::new();
    if path.is_relative() {
        bytes.extend_from_slice(b"./");
    }
    bytes.extend_from_slice(path.as_os_str().as_bytes());
    bytes
}

/// The client API version of the libmpv loaded at run time, as (major, minor).
pub fn client_api_version() -> (u32, u32) {
    // SAFETY: no preconditions.
    let v = unsafe { ffi::mpv_client_api_version() } as u64;
    ((v >> 16) as u32, (v & 0xFFFF) as u32)
}

/// The reply id of requests made with the `_async` calls (their replies are told apart by
/// their event type only).
const ASYNC_REPLY: u64 = 0xA5F0;

/// The one `mpv_handle` of a core; shared through `Arc`, destroyed with the last reference.
/// `.1` counts the requests that restart mpv's playback clock (see [`Mpv::runs`]).
struct Core(*mut ffi::mpv_handle, AtomicU64);

// SAFETY: client.h declares the client API thread-safe unless noted otherwise. The exceptions
// are kept by this crate, not by the thread that holds the handle:
// - mpv_wait_event allows one thread at a time per handle: its only call is in `Events::wait`,
//   which takes `&mut Events`, and `Mpv::new` makes exactly one `Events` per core (it is not
//   Clone), so two threads can never be in it at once;
// - mpv_terminate_destroy is called once, by `Drop`, when no other reference exists;
// - the render API's own rules are kept by the render context types (see `render`).
unsafe impl Send for Core {}
// SAFETY: as for Send: every function reachable through `&Core` may run on several threads at
// once.
unsafe impl Sync for Core {}

impl Drop for Core {
    fn drop(&mut self) {
        // SAFETY: the pointer came from mpv_create and this is the last reference to it: the
        // `Events`, every `Mpv` and every render context (freed first, by its own Drop) are gone.
        unsafe { ffi::mpv_terminate_destroy(self.0) };
    }
}

/// A handle to one mpv core. Clone it freely; every clone talks to the same player.
#[derive(Clone)]
pub struct Mpv {
    core: Arc<Core>,
}

/// A value of an observed property.
#[derive(Clone, Debug, PartialEq)]
pub enum PropertyValue {
    /// The property is unavailable (no file loaded, for example).
    None,
    Flag(bool),
    Int(i64),
    Double(f64),
    String(String),
}

/// Why a file ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    Eof,
    Stop,
    Quit,
    /// Loading or decoding failed; the code is an mpv error code.
    Error(i32),
    Other(i32),
}

/// An event from mpv, copied out of mpv's memory.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Shutdown,
    Log {
        prefix: String,
        level: String,
        text: String,
    },
    StartFile,
    EndFile(EndReason),
    FileLoaded,
    Idle,
    VideoReconfig,
    Seek,
    /// Playback (re)started after a load or a seek: the new frame is on the way to the screen.
    PlaybackRestart,
    PropertyChange {
        /// The `id` given to [`Mpv::observe`].
        id: u64,
        name: String,
        value: PropertyValue,
    },
    /// A request made with one of the `_async` calls failed, with this error code (its
    /// success comes as [`Event::Other`] with mpv's reply event id).
    RequestFailed(i32),
    /// Anything else, by mpv's event id.
    Other(i32),
}

/// Property formats for [`Mpv::observe`].
#[derive(Clone, Copy, Debug)]
pub enum Format {
    Flag,
    Int,
    Double,
    String,
}

impl Format {
    fn raw(self) -> c_int {
        match self {
            Format::Flag => ffi::MPV_FORMAT_FLAG,
            Format::Int => ffi::MPV_FORMAT_INT64,
            Format::Double => ffi::MPV_FORMAT_DOUBLE,
            Format::String => ffi::MPV_FORMAT_STRING,
        }
    }
}

impl Mpv {
    /// Creates and initializes a core with the given options (set before initialization,
    /// as `mpv --name=value`). Returns the handle and the single reader of its events.
    pub fn new(options: &[(&str, &str)]) -> Result<(Mpv, Events), MpvError> {
        // SAFETY: mpv_create has no preconditions; null means out of memory or a broken
        // installation.
        let raw = unsafe { ffi::mpv_create() };
        if raw.is_null() {
            return Err(MpvError {
                code: -1,
                context: "create the mpv core".into(),
            });
        }
        let mpv = Mpv {
            core: Arc::new(Core(raw, AtomicU64::new(0))),
        };
        for (name, value) in options {
            let n = cstring(name.as_bytes(), || format!("mpv option {name}"))?;
            let v = cstring(value.as_bytes(), || format!("mpv option {name}={value}"))?;
            // SAFETY: valid handle and NUL-terminated strings that outlive the call.
            let code = unsafe { ffi::mpv_set_option_string(raw, n.as_ptr(), v.as_ptr()) };
            check(code, || format!("set mpv option {name}={value}"))?;
        }
        // SAFETY: valid, not yet initialized handle.
        check(unsafe { ffi::mpv_initialize(raw) }, || {
            "initialize mpv".into()
        })?;
        let events = Events {
            core: mpv.core.clone(),
            wakeup: None,
        };
        Ok((mpv, events))
    }

    fn raw(&self) -> *mut ffi::mpv_handle {
        self.core.0
    }

    /// How many requests that restart mpv's playback clock (pause, unpause, seek, load) were
    /// made through this core, counted when made. mpv times a run's frames from when it carried
    /// out the request that began it; a screen tells one run's frames from another's by this.
    pub fn runs(&self) -> u64 {
        self.core.1.load(Ordering::Acquire)
    }

    /// Counts a request made by `name` (a command or a property) if it restarts mpv's clock.
    fn note_run(&self, name: &str) {
        const RESTARTS: [&str; 8] = [
            "pause",
            "seek",
            "loadfile",
            "frame-step",
            "frame-back-step",
            "revert-seek",
            "stop",
            "playlist-next",
        ];
        if RESTARTS.contains(&name) {
            self.core.1.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Runs an mpv command synchronously, e.g. `["seek", "0", "absolute+exact"]`. An argument
    /// with a NUL inside is refused with an error.
    pub fn command(&self, args: &[&str]) -> Result<(), MpvError> {
        let describe = || format!("mpv command {}", args.join(" "));
        let owned = args
            .iter()
            .map(|a| cstring(a.as_bytes(), describe))
            .collect::<Result<Vec<CString>, _>>()?;
        self.note_run(args.first().copied().unwrap_or(""));
        self.command_c(&owned, describe)
    }

    /// Loads `path` in place of the current file (`loadfile <path> replace`). The path goes to
    /// mpv as the bytes the OS uses, so any file the OS can open plays, whether or not its name
    /// is UTF-8. A relative path is given as `./path`, so that a name such as `-` or
    /// `name://x` is a file and not standard input or a URL. A NUL inside is an error.
    pub fn load_file(&self, path: &Path) -> Result<(), MpvError> {
        let describe = || format!("mpv command loadfile {} replace", path.display());
        let args = [
            c"loadfile".to_owned(),
            cstring(&file_argument(path), describe)?,
            c"replace".to_owned(),
        ];
        self.note_run("loadfile");
        self.command_c(&args, describe)
    }

    fn command_c(
        &self,
        args: &[CString],
        describe: impl FnOnce() -> String,
    ) -> Result<(), MpvError> {
        let mut ptrs: Vec<*const std::os::raw::c_char> = args.iter().map(|c| c.as_ptr()).collect();
        ptrs.push(ptr::null());
        // SAFETY: valid handle; a null-terminated array of NUL-terminated strings that outlive
        // the call (mpv copies what it keeps).
        let code = unsafe { ffi::mpv_command(self.raw(), ptrs.as_mut_ptr()) };
        check(code, describe)
    }

    /// Queues an mpv command and returns at once, without waiting for mpv's core (which may be
    /// busy with a seek or waiting for the screen). Requests queued this way are carried out in
    /// the order they were made; a failure comes back later as [`Event::RequestFailed`]. An
    /// argument with a NUL inside is refused here, with an error.
    pub fn command_async(&self, args: &[&str]) -> Result<(), MpvError> {
        let describe = || format!("mpv command {}", args.join(" "));
        let owned = args
            .iter()
            .map(|a| cstring(a.as_bytes(), describe))
            .collect::<Result<Vec<CString>, _>>()?;
        let mut ptrs: Vec<*const std::os::raw::c_char> = owned.iter().map(|c| c.as_ptr()).collect();
        ptrs.push(ptr::null());
        self.note_run(args.first().copied().unwrap_or(""));
        // SAFETY: valid handle; a null-terminated array of NUL-terminated strings that outlive
        // the call; mpv copies the arguments before it returns.
        let code = unsafe { ffi::mpv_command_async(self.raw(), ASYNC_REPLY, ptrs.as_mut_ptr()) };
        check(code, describe)
    }

    /// [`Mpv::set_flag`] without waiting for mpv's core (see [`Mpv::command_async`]).
    pub fn set_flag_async(&self, name: &str, value: bool) -> Result<(), MpvError> {
        self.note_run(name);
        let n = cstring(name.as_bytes(), || format!("property {name}"))?;
        let mut v: c_int = value.into();
        // SAFETY: valid handle, name, and a c_int for MPV_FORMAT_FLAG; mpv copies the value
        // before it returns.
        let code = unsafe {
            ffi::mpv_set_property_async(
                self.raw(),
                ASYNC_REPLY,
                n.as_ptr(),
                ffi::MPV_FORMAT_FLAG,
                &mut v as *mut c_int as *mut c_void,
            )
        };
        check(code, || format!("set property {name}={value}"))
    }

    /// [`Mpv::set_double`] without waiting for mpv's core (see [`Mpv::command_async`]).
    pub fn set_double_async(&self, name: &str, value: f64) -> Result<(), MpvError> {
        let n = cstring(name.as_bytes(), || format!("property {name}"))?;
        let mut v = value;
        // SAFETY: valid handle, name, and an f64 for MPV_FORMAT_DOUBLE; mpv copies the value
        // before it returns.
        let code = unsafe {
            ffi::mpv_set_property_async(
                self.raw(),
                ASYNC_REPLY,
                n.as_ptr(),
                ffi::MPV_FORMAT_DOUBLE,
                &mut v as *mut f64 as *mut c_void,
            )
        };
        check(code, || format!("set property {name}={value}"))
    }

    /// Sets a flag property (`pause`, `fullscreen`, ...).
    pub fn set_flag(&self, name: &str, value: bool) -> Result<(), MpvError> {
        self.note_run(name);
        let n = cstring(name.as_bytes(), || format!("property {name}"))?;
        let mut v: c_int = value.into();
        // SAFETY: valid handle, name, and a c_int for MPV_FORMAT_FLAG.
        let code = unsafe {
            ffi::mpv_set_property(
                self.raw(),
                n.as_ptr(),
                ffi::MPV_FORMAT_FLAG,
                &mut v as *mut c_int as *mut c_void,
            )
        };
        check(code, || format!("set property {name}={value}"))
    }

    /// Sets a floating-point property (`speed`, ...).
    pub fn set_double(&self, name: &str, value: f64) -> Result<(), MpvError> {
        let n = cstring(name.as_bytes(), || format!("property {name}"))?;
        let mut v = value;
        // SAFETY: valid handle, name, and an f64 for MPV_FORMAT_DOUBLE.
        let code = unsafe {
            ffi::mpv_set_property(
                self.raw(),
                n.as_ptr(),
                ffi::MPV_FORMAT_DOUBLE,
                &mut v as *mut f64 as *mut c_void,
            )
        };
        check(code, || format!("set property {name}={value}"))
    }

    /// Sets a property from its string form.
    pub fn set_string(&self, name: &str, value: &str) -> Result<(), MpvError> {
        self.note_run(name);
        let n = cstring(name.as_bytes(), || format!("property {name}"))?;
        let v = cstring(value.as_bytes(), || format!("property {name}={value}"))?;
        let mut p = v.as_ptr();
        // SAFETY: MPV_FORMAT_STRING takes a pointer to a char pointer.
        let code = unsafe {
            ffi::mpv_set_property(
                self.raw(),
                n.as_ptr(),
                ffi::MPV_FORMAT_STRING,
                &mut p as *mut *const std::os::raw::c_char as *mut c_void,
            )
        };
        check(code, || format!("set property {name}={value}"))
    }

    /// Reads a floating-point property (`time-pos`, `duration`, ...).
    pub fn get_double(&self, name: &str) -> Result<f64, MpvError> {
        let n = cstring(name.as_bytes(), || format!("property {name}"))?;
        let mut v: f64 = 0.0;
        // SAFETY: valid handle, name, and an f64 to write to.
        let code = unsafe {
            ffi::mpv_get_property(
                self.raw(),
                n.as_ptr(),
                ffi::MPV_FORMAT_DOUBLE,
                &mut v as *mut f64 as *mut c_void,
            )
        };
        check(code, || format!("get property {name}"))?;
        Ok(v)
    }

    /// Reads an integer property (`estimated-frame-number`, ...).
    pub fn get_int(&self, name: &str) -> Result<i64, MpvError> {
        let n = cstring(name.as_bytes(), || format!("property {name}"))?;
        let mut v: i64 = 0;
        // SAFETY: valid handle, name, and an i64 to write to.
        let code = unsafe {
            ffi::mpv_get_property(
                self.raw(),
                n.as_ptr(),
                ffi::MPV_FORMAT_INT64,
                &mut v as *mut i64 as *mut c_void,
            )
        };
        check(code, || format!("get property {name}"))?;
        Ok(v)
    }

    /// Reads a flag property.
    pub fn get_flag(&self, name: &str) -> Result<bool, MpvError> {
        let n = cstring(name.as_bytes(), || format!("property {name}"))?;
        let mut v: c_int = 0;
        // SAFETY: valid handle, name, and a c_int to write to.
        let code = unsafe {
            ffi::mpv_get_property(
                self.raw(),
                n.as_ptr(),
                ffi::MPV_FORMAT_FLAG,
                &mut v as *mut c_int as *mut c_void,
            )
        };
        check(code, || format!("get property {name}"))?;
        Ok(v != 0)
    }

    /// Reads a property as a string.
    pub fn get_string(&self, name: &str) -> Result<String, MpvError> {
        let n = cstring(name.as_bytes(), || format!("property {name}"))?;
        let mut v: *mut std::os::raw::c_char = ptr::null_mut();
        // SAFETY: valid handle and name; on success mpv hands over a string we must free.
        let code = unsafe {
            ffi::mpv_get_property(
                self.raw(),
                n.as_ptr(),
                ffi::MPV_FORMAT_STRING,
                &mut v as *mut *mut std::os::raw::c_char as *mut c_void,
            )
        };
        check(code, || format!("get property {name}"))?;
        if v.is_null() {
            return Ok(String::new());
        }
        // SAFETY: mpv returned a valid NUL-terminated string allocated by it.
        let s = unsafe { CStr::from_ptr(v) }.to_string_lossy().into_owned();
        // SAFETY: the string came from mpv and is freed once.
        unsafe { ffi::mpv_free(v as *mut c_void) };
        Ok(s)
    }

    /// Asks for `PropertyChange` events with `id` whenever `name` changes.
    pub fn observe(&self, id: u64, name: &str, format: Format) -> Result<(), MpvError> {
        let n = cstring(name.as_bytes(), || format!("property {name}"))?;
        // SAFETY: valid handle and name.
        let code = unsafe { ffi::mpv_observe_property(self.raw(), id, n.as_ptr(), format.raw()) };
        check(code, || format!("observe property {name}"))
    }

    /// Asks for mpv's log messages at `level` and above (`"warn"`, `"info"`, `"v"`...).
    pub fn request_log_messages(&self, level: &str) -> Result<(), MpvError> {
        let l = cstring(level.as_bytes(), || format!("mpv log level {level}"))?;
        // SAFETY: valid handle and string.
        let code = unsafe { ffi::mpv_request_log_messages(self.raw(), l.as_ptr()) };
        check(code, || format!("request mpv log messages at {level}"))
    }

    /// mpv's clock, in microseconds: the clock of [`render::FrameInfo::target_time`].
    pub fn time_us(&self) -> i64 {
        // SAFETY: valid handle; a plain clock read.
        unsafe { ffi::mpv_get_time_us(self.raw()) }
    }

    /// Wakes the thread blocked in [`Events::wait`].
    pub fn wakeup(&self) {
        // SAFETY: valid handle.
        unsafe { ffi::mpv_wakeup(self.raw()) };
    }
}

/// What mpv may call when it has news: something that only signals another thread.
///
/// mpv runs its callbacks (the event wakeup, the render update) on its own threads, while it
/// holds its own locks, and forbids calling mpv from them: a callback that calls into mpv
/// deadlocks the player in front of the audience. A callback that held an [`Mpv`] would also
/// keep the core alive from inside the core. So no closure is accepted: this trait is sealed,
/// and only types that can do nothing but signal implement it:
/// - `crossbeam_channel::Sender<()>`: sends `()` without blocking (a full channel already holds
///   a wakeup, so one is never lost); give it a `bounded(1)` channel;
/// - `EventLoopWaker` (feature `winit`): sends a winit user event made from a number.
///
/// None of them can hold an `Mpv`, so none can form a cycle; the only program code that runs
/// in a callback is the `From<WakeTag>` an `EventLoopWaker` sends through, which sees a number.
pub trait Wake: sealed::Sealed + Send + Sync + 'static {
    /// Signals the waiting thread. Runs on an mpv thread, under an mpv lock: returns at once.
    fn wake(&self);
}

mod sealed {
    /// Keeps [`super::Wake`] to the types this crate implements it for.
    pub trait Sealed {}
}

impl sealed::Sealed for crossbeam_channel::Sender<()> {}

impl Wake for crossbeam_channel::Sender<()> {
    fn wake(&self) {
        // Full: a wakeup is already pending. Disconnected: nobody is listening any more.
        let _ = self.try_send(());
    }
}

/// A [`Wake`] that sends a winit user event to an event loop, to wake the thread that draws.
///
/// The event is made by `T::from(WakeTag(n))` on mpv's thread, from the number given to
/// `EventLoopWaker::new` and nothing else, so it cannot carry an [`Mpv`] along; keep that
/// `From` a plain constructor.
#[cfg(feature = "winit")]
pub struct EventLoopWaker<T: 'static> {
    proxy: winit::event_loop::EventLoopProxy<T>,
    tag: WakeTag,
}

/// The number an `EventLoopWaker` puts into each event it sends, e.g. which player it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WakeTag(pub usize);

#[cfg(feature = "winit")]
impl<T: 'static> EventLoopWaker<T> {
    /// Wakes `proxy`'s event loop with the event `T::from(WakeTag(tag))`.
    pub fn new(proxy: winit::event_loop::EventLoopProxy<T>, tag: usize) -> Self {
        EventLoopWaker {
            proxy,
            tag: WakeTag(tag),
        }
    }
}

#[cfg(feature = "winit")]
impl<T: 'static> sealed::Sealed for EventLoopWaker<T> {}

#[cfg(feature = "winit")]
impl<T: From<WakeTag> + Send + 'static> Wake for EventLoopWaker<T>
where
    winit::event_loop::EventLoopProxy<T>: Send + Sync,
{
    fn wake(&self) {
        // The loop has ended: nobody needs waking.
        let _ = self.proxy.send_event(T::from(self.tag));
    }
}

/// A [`Wake`] in the thin box whose address mpv passes back to [`call_wake`].
type WakeBox = Box<Box<dyn Wake>>;

fn wake_box(waker: impl Wake) -> (WakeBox, *mut c_void) {
    let boxed: WakeBox = Box::new(Box::new(waker));
    let data = &*boxed as *const Box<dyn Wake> as *mut c_void;
    (boxed, data)
}

/// The C callback for both of mpv's notifications; `data` comes from [`wake_box`].
unsafe extern "C" fn call_wake(data: *mut c_void) {
    // SAFETY: mpv passes back the pointer it was given with this function: the inner box of a
    // `WakeBox` that its owner (`Events` or a render context) keeps until the callback has been
    // removed (mpv removes it under the lock it calls it under, so no call is still running).
    let waker = unsafe { &*(data as *const Box<dyn Wake>) };
    waker.wake();
}

/// The single reader of one core's event queue.
pub struct Events {
    core: Arc<Core>,
    wakeup: Option<WakeBox>,
}

impl Events {
    /// Has `waker` woken (from an mpv thread) whenever new events are queued, and once now.
    /// It replaces the one set before.
    pub fn set_wakeup(&mut self, waker: impl Wake) {
        let (boxed, data) = wake_box(waker);
        // SAFETY: valid handle; `data` points into `boxed`, kept in self until the callback is
        // replaced or removed. mpv swaps the callback under the lock it calls it under, so once
        // this returns the old one is not running and its box may go.
        unsafe { ffi::mpv_set_wakeup_callback(self.core.0, Some(call_wake), data) };
        self.wakeup = Some(boxed);
    }

    /// Waits up to `timeout_s` seconds (0 = poll) for the next event. `None` when none came.
    pub fn wait(&mut self, timeout_s: f64) -> Option<Event> {
        // SAFETY: valid handle, and no other thread is in mpv_wait_event on it: this is its only
        // call and `&mut self` is exclusive (see `Core`).
        let ev = unsafe { ffi::mpv_wait_event(self.core.0, timeout_s) };
        if ev.is_null() {
            // client.h promises never; nothing to report if it happens anyway.
            return None;
        }
        // SAFETY: mpv's event stays valid until the next mpv_wait_event on this handle, which
        // cannot come before this returns (`&mut self`); everything is copied out before then.
        unsafe { convert_event(&*ev) }
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        if self.wakeup.is_some() {
            // SAFETY: valid handle (self still holds the core); the callback is removed before
            // its box is dropped with self's fields, and no call of it is running after this.
            unsafe { ffi::mpv_set_wakeup_callback(self.core.0, None, ptr::null_mut()) };
        }
    }
}

/// Copies a string from mpv. Safety: `p` is null or a NUL-terminated string valid for the call.
unsafe fn owned_str(p: *const std::os::raw::c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        // SAFETY: the caller passes a NUL-terminated string from mpv.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

/// Copies an event out of mpv's memory. Safety: `ev` is an event mpv returned, still valid, so
/// its `data` points to the struct its `event_id` documents.
unsafe fn convert_event(ev: &ffi::mpv_event) -> Option<Event> {
    Some(match ev.event_id {
        ffi::MPV_EVENT_NONE => return None,
        ffi::MPV_EVENT_SHUTDOWN => Event::Shutdown,
        ffi::MPV_EVENT_LOG_MESSAGE => {
            // SAFETY: mpv documents data as mpv_event_log_message for this id.
            let m = unsafe { &*(ev.data as *const ffi::mpv_event_log_message) };
            // SAFETY: its strings are mpv's, valid while the event is.
            unsafe {
                Event::Log {
                    prefix: owned_str(m.prefix),
                    level: owned_str(m.level),
                    text: owned_str(m.text).trim_end().to_string(),
                }
            }
        }
        ffi::MPV_EVENT_START_FILE => Event::StartFile,
        ffi::MPV_EVENT_END_FILE => {
            // SAFETY: mpv documents data as mpv_event_end_file for this id.
            let e = unsafe { &*(ev.data as *const ffi::mpv_event_end_file) };
            Event::EndFile(match e.reason {
                ffi::MPV_END_FILE_REASON_EOF => EndReason::Eof,
                ffi::MPV_END_FILE_REASON_STOP => EndReason::Stop,
                ffi::MPV_END_FILE_REASON_QUIT => EndReason::Quit,
                ffi::MPV_END_FILE_REASON_ERROR => EndReason::Error(e.error),
                other => EndReason::Other(other),
            })
        }
        ffi::MPV_EVENT_FILE_LOADED => Event::FileLoaded,
        ffi::MPV_EVENT_IDLE => Event::Idle,
        ffi::MPV_EVENT_VIDEO_RECONFIG => Event::VideoReconfig,
        ffi::MPV_EVENT_SEEK => Event::Seek,
        ffi::MPV_EVENT_PLAYBACK_RESTART => Event::PlaybackRestart,
        ffi::MPV_EVENT_PROPERTY_CHANGE => {
            // SAFETY: mpv documents data as mpv_event_property for this id.
            let p = unsafe { &*(ev.data as *const ffi::mpv_event_property) };
            let value = if p.data.is_null() {
                PropertyValue::None
            } else {
                // SAFETY: data points to a value of the stated format (a C string pointer for
                // MPV_FORMAT_STRING), valid while the event is.
                unsafe {
                    match p.format {
                        ffi::MPV_FORMAT_FLAG => PropertyValue::Flag(*(p.data as *const c_int) != 0),
                        ffi::MPV_FORMAT_INT64 => PropertyValue::Int(*(p.data as *const i64)),
                        ffi::MPV_FORMAT_DOUBLE => PropertyValue::Double(*(p.data as *const f64)),
                        ffi::MPV_FORMAT_STRING => PropertyValue::String(owned_str(
                            *(p.data as *const *const std::os::raw::c_char),
                        )),
                        _ => PropertyValue::None,
                    }
                }
            };
            Event::PropertyChange {
                id: ev.reply_userdata,
                // SAFETY: name is a valid string for this event.
                name: unsafe { owned_str(p.name) },
                value,
            }
        }
        ffi::MPV_EVENT_SET_PROPERTY_REPLY | ffi::MPV_EVENT_COMMAND_REPLY if ev.error < 0 => {
            Event::RequestFailed(ev.error)
        }
        other => Event::Other(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    fn core() -> (Mpv, Events) {
        Mpv::new(&[
            ("config", "no"),
            ("terminal", "no"),
            ("vo", "null"),
            ("audio", "no"),
            ("idle", "yes"),
            ("pause", "yes"),
        ])
        .expect("an mpv core")
    }

    #[test]
    fn file_names_reach_mpv_as_the_os_bytes() {
        let odd = Path::new(OsStr::from_bytes(b"/shows/show-\xff\xfe.mp4"));
        assert_eq!(file_argument(odd), b"/shows/show-\xff\xfe.mp4");
        // Not standard input, not a URL: files in the working directory.
        assert_eq!(file_argument(Path::new("-")), b"./-");
        assert_eq!(file_argument(Path::new("a://b")), b"./a://b");
    }

    #[test]
    fn a_nul_is_an_error_not_a_cut() {
        let (mpv, _events) = core();
        let e = mpv
            .load_file(Path::new(OsStr::from_bytes(b"/tmp/a\0b.mp4")))
            .expect_err("a NUL in a file name");
        assert_eq!(e.code, ERROR_INVALID_PARAMETER);
        assert!(e.context.contains("NUL"), "{e}");
        let e = mpv
            .command(&["show-text", "a\0b"])
            .expect_err("a NUL in an argument");
        assert!(e.context.contains("NUL"), "{e}");
        let e = mpv
            .set_string("title", "a\0b")
            .expect_err("a NUL in a value");
        assert!(e.context.contains("NUL"), "{e}");
        assert!(Mpv::new(&[("title", "a\0b")]).is_err());
        // The core is unharmed.
        mpv.command(&["show-text", "ab"]).expect("a plain command");
    }

    #[test]
    fn a_file_whose_name_is_not_utf8_loads() {
        let dir = std::env::temp_dir().join(format!("playhead-mpv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        let video = dir.join(OsStr::from_bytes(b"show-\xff\xfe.mp4"));
        std::fs::copy(
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../media/demo.mp4"),
            &video,
        )
        .expect("a copy of the demo");
        let (mpv, mut events) = core();
        mpv.load_file(&video).expect("loadfile");
        let outcome = loop {
            match events.wait(-1.0) {
                Some(Event::FileLoaded) => break Ok(()),
                Some(Event::EndFile(reason)) => break Err(reason),
                _ => {}
            }
        };
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(outcome, Ok(()));
    }

    #[test]
    fn the_wakeup_is_woken_and_freed_with_the_events() {
        let (mpv, mut events) = core();
        let (tx, rx) = crossbeam_channel::bounded::<()>(1);
        events.set_wakeup(tx);
        // mpv calls it once when it is set; drain that.
        rx.recv().expect("woken when set");
        // mpv calls it only when its queue goes from read to unread: read the queue first.
        while events.wait(0.0).is_some() {}
        mpv.wakeup();
        rx.recv().expect("woken by mpv_wakeup");
        drop(events);
        // The callback is gone and its waker with it; the core lives on in `mpv`.
        assert_eq!(rx.recv(), Err(crossbeam_channel::RecvError));
        mpv.command(&["show-text", "still here"])
            .expect("the core outlives its events");
    }
}
