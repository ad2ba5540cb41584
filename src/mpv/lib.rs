//! A thin, safe wrapper over libmpv's client API.
//!
//! Ownership is explicit: [`Mpv`] is a cheap, cloneable, thread-safe handle (mpv documents
//! `mpv_command` and `mpv_set_property` as callable from any thread); [`Events`] is the one
//! reader of mpv's event queue (mpv allows only one thread in `mpv_wait_event`); a
//! [`render::RenderContext`] keeps the core alive for as long as it draws. The core is destroyed
//! when the last of them is dropped, so a render context can never outlive its player.

mod ffi;
pub mod render;

use std::ffi::{c_void, CStr, CString};
use std::fmt;
use std::os::raw::c_int;
use std::path::Path;
use std::ptr;
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

struct Core(*mut ffi::mpv_handle);

// SAFETY: libmpv's client handle is documented as thread-safe for all functions except
// mpv_wait_event, which only `Events` calls (and `Events` is not Sync or Clone).
unsafe impl Send for Core {}
unsafe impl Sync for Core {}

impl Drop for Core {
    fn drop(&mut self) {
        // SAFETY: the pointer came from mpv_create and this is the last reference to it.
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
            core: Arc::new(Core(raw)),
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

    /// Runs an mpv command synchronously, e.g. `["seek", "0", "absolute+exact"]`. An argument
    /// with a NUL inside is refused with an error.
    pub fn command(&self, args: &[&str]) -> Result<(), MpvError> {
        let describe = || format!("mpv command {}", args.join(" "));
        let owned = args
            .iter()
            .map(|a| cstring(a.as_bytes(), describe))
            .collect::<Result<Vec<CString>, _>>()?;
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

    /// Sets a flag property (`pause`, `fullscreen`, ...).
    pub fn set_flag(&self, name: &str, value: bool) -> Result<(), MpvError> {
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

    /// Wakes the thread blocked in [`Events::wait`].
    pub fn wakeup(&self) {
        // SAFETY: valid handle.
        unsafe { ffi::mpv_wakeup(self.raw()) };
    }
}

type WakeupFn = Box<dyn Fn() + Send + Sync>;

/// The single reader of one core's event queue.
pub struct Events {
    core: Arc<Core>,
    wakeup: Option<Box<WakeupFn>>,
}

// SAFETY: Events may move to another thread; it is not Sync, so only one thread waits.
unsafe impl Send for Events {}

unsafe extern "C" fn call_wakeup(data: *mut c_void) {
    // SAFETY: `data` is the Box<WakeupFn> owned by `Events`, alive until the callback is
    // removed in `Events::drop`.
    let f = unsafe { &*(data as *const WakeupFn) };
    f();
}

impl Events {
    /// Calls `f` (from an mpv thread) whenever new events are queued. `f` must not block and
    /// must not call into mpv; sending on a channel is the intended use.
    pub fn set_wakeup(&mut self, f: impl Fn() + Send + Sync + 'static) {
        let boxed: Box<WakeupFn> = Box::new(Box::new(f));
        let data = &*boxed as *const WakeupFn as *mut c_void;
        // SAFETY: the box lives in self until replaced or dropped; mpv replaces the callback
        // atomically, so the old box may be dropped after this call.
        unsafe { ffi::mpv_set_wakeup_callback(self.core.0, Some(call_wakeup), data) };
        self.wakeup = Some(boxed);
    }

    /// Waits up to `timeout_s` seconds (0 = poll) for the next event. `None` when none came.
    pub fn wait(&mut self, timeout_s: f64) -> Option<Event> {
        // SAFETY: valid handle; only this object calls mpv_wait_event. The returned event
        // stays valid until the next call, and is copied out before returning.
        let ev = unsafe { &*ffi::mpv_wait_event(self.core.0, timeout_s) };
        // SAFETY: the data pointers are valid for the event id that mpv set.
        unsafe { convert_event(ev) }
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        if self.wakeup.is_some() {
            // SAFETY: valid handle; removing the callback before freeing its data.
            unsafe { ffi::mpv_set_wakeup_callback(self.core.0, None, ptr::null_mut()) };
        }
    }
}

unsafe fn owned_str(p: *const std::os::raw::c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        // SAFETY: the caller passes a NUL-terminated string from mpv.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

unsafe fn convert_event(ev: &ffi::mpv_event) -> Option<Event> {
    Some(match ev.event_id {
        ffi::MPV_EVENT_NONE => return None,
        ffi::MPV_EVENT_SHUTDOWN => Event::Shutdown,
        ffi::MPV_EVENT_LOG_MESSAGE => {
            // SAFETY: mpv documents data as mpv_event_log_message for this id.
            let m = unsafe { &*(ev.data as *const ffi::mpv_event_log_message) };
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
                // SAFETY: data points to a value of the stated format.
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
}
