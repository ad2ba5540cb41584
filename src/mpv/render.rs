//! mpv's render API: mpv decodes, we say where and when to draw.
//!
//! Two back ends, two types: [`GlRenderContext`] (the window, through glutin) and
//! [`SwRenderContext`], mpv's software renderer into a memory buffer (headless runs, tests and
//! benchmarks). The software one is safe to use. The OpenGL one is not checkable from here: mpv
//! needs the GL context it was made with to be current on the calling thread, for every call and
//! for the free, and nothing in this crate can see GL; so its constructor and drawing calls are
//! `unsafe` and say what the caller must keep.
//!
//! Both hold a reference to the core, so the context is always freed before the core is
//! destroyed, as mpv requires. Neither is `Send` or `Sync` (they hold a raw pointer): mpv allows
//! one render call at a time per context, and an OpenGL context is current on one thread.

use super::{check, ffi, wake_box, Core, Mpv, MpvError, Wake, WakeBox, ERROR_INVALID_PARAMETER};
use raw_window_handle::{HasDisplayHandle, RawDisplayHandle};
use std::ffi::{c_void, CStr};
use std::os::raw::{c_char, c_int};
use std::ptr;
use std::rc::Rc;
use std::sync::Arc;

type ProcAddressFn = Box<dyn Fn(&CStr) -> *const c_void>;

/// What both back ends share: the mpv context, its update waker and the core.
struct Raw {
    ctx: *mut ffi::mpv_render_context,
    update: Option<WakeBox>,
    // Never read: held so that the core outlives the context (dropped after the free).
    _core: Arc<Core>,
}

fn param(type_: c_int, data: *mut c_void) -> ffi::mpv_render_param {
    ffi::mpv_render_param { type_, data }
}

fn end() -> ffi::mpv_render_param {
    param(ffi::MPV_RENDER_PARAM_INVALID, ptr::null_mut())
}

impl Raw {
    /// Safety: `params` is terminated by `MPV_RENDER_PARAM_INVALID` and all it points to is
    /// valid for the call; for OpenGL, the GL context is current on this thread.
    unsafe fn create(
        mpv: &Mpv,
        params: &mut [ffi::mpv_render_param],
        what: &str,
    ) -> Result<Raw, MpvError> {
        let mut ctx = ptr::null_mut();
        // SAFETY: valid handle; the caller vouches for params.
        let code =
            unsafe { ffi::mpv_render_context_create(&mut ctx, mpv.raw(), params.as_mut_ptr()) };
        check(code, || format!("create the {what} video renderer"))?;
        Ok(Raw {
            ctx,
            update: None,
            _core: mpv.core.clone(),
        })
    }

    fn set_update(&mut self, waker: impl Wake) {
        let (boxed, data) = wake_box(waker);
        // SAFETY: valid context. mpv documents this call as touching no OpenGL state, so it needs
        // no current GL context. `data` points into `boxed`, kept in self until the context is
        // freed; mpv swaps the callback under the lock it calls it under, so the old box is not
        // in use once this returns.
        unsafe {
            ffi::mpv_render_context_set_update_callback(self.ctx, Some(super::call_wake), data)
        };
        self.update = Some(boxed);
    }
}

/// What mpv says of the next frame to draw (`MPV_RENDER_PARAM_NEXT_FRAME_INFO`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameInfo {
    /// There is a frame to draw.
    pub present: bool,
    /// It is the frame on screen again (a redraw, not a new frame).
    pub redraw: bool,
    /// It repeats the frame before (display-sync modes).
    pub repeat: bool,
    /// When it is due, on mpv's clock ([`Mpv::time_us`]); 0 when mpv gives no time. render.h
    /// says microseconds; libmpv 0.37 and later hand over their frame times in nanoseconds here
    /// (their video output moved to a nanosecond clock): [`FrameInfo::due_in_us`] reads either.
    pub target_time: i64,
}

impl FrameInfo {
    /// How long from `now_us` (mpv's clock, [`Mpv::time_us`]) until the frame is due, in
    /// microseconds (negative: overdue); `None` when there is no time or it makes no sense in
    /// either unit (more than 10 s away).
    pub fn due_in_us(&self, now_us: i64) -> Option<i64> {
        const PLAUSIBLE_US: i64 = 10_000_000;
        if self.target_time <= 0 || now_us <= 0 {
            return None;
        }
        let as_us = self.target_time.saturating_sub(now_us);
        if as_us.abs() < PLAUSIBLE_US {
            return Some(as_us);
        }
        let as_ns = (self.target_time / 1000).saturating_sub(now_us);
        (as_ns.abs() < PLAUSIBLE_US).then_some(as_ns)
    }
}

impl Raw {
    fn next_frame_info(&self) -> FrameInfo {
        let mut info = ffi::mpv_render_frame_info::default();
        let p = param(
            ffi::MPV_RENDER_PARAM_NEXT_FRAME_INFO,
            &mut info as *mut _ as *mut c_void,
        );
        // SAFETY: valid context; mpv fills `info` (which lives for the call) under its own
        // lock and touches no GL state (vo_libmpv's get_info reads the queued frame only).
        let code = unsafe { ffi::mpv_render_context_get_info(self.ctx, p) };
        if code < 0 {
            return FrameInfo::default();
        }
        FrameInfo {
            present: info.flags & ffi::MPV_RENDER_FRAME_INFO_PRESENT != 0,
            redraw: info.flags & ffi::MPV_RENDER_FRAME_INFO_REDRAW != 0,
            repeat: info.flags & ffi::MPV_RENDER_FRAME_INFO_REPEAT != 0,
            target_time: info.target_time,
        }
    }
}

/// Render calls never wait for the frame's due time inside mpv: the caller presents it then
/// (a value mpv reads for the call).
static NO_BLOCK: c_int = 0;

fn no_block() -> ffi::mpv_render_param {
    param(
        ffi::MPV_RENDER_PARAM_BLOCK_FOR_TARGET_TIME,
        &NO_BLOCK as *const c_int as *mut c_void,
    )
}

impl Drop for Raw {
    fn drop(&mut self) {
        // SAFETY: valid context, freed once; `self._core` is still held, so the core is alive.
        // For OpenGL the GL context is current: `GlRenderContext::new`'s contract. Freeing ends
        // the update callbacks, so the waker's box (a field, dropped after this) is unused.
        unsafe { ffi::mpv_render_context_free(self.ctx) };
        // The fields drop next, in order: the waker, then the core (maybe destroying it here).
    }
}

/// A software render context: mpv draws into memory the caller provides. Safe to use.
pub struct SwRenderContext {
    raw: Raw,
}

/// Why a software render was refused before reaching mpv.
fn invalid(what: &str) -> MpvError {
    MpvError {
        code: ERROR_INVALID_PARAMETER,
        context: format!("render a video frame in software: {what}"),
    }
}

/// Checks a software render target; returns the size as mpv takes it.
///
/// mpv writes every byte from the pointer to `pointer + stride * height` and reads the stride
/// into a C `int` (see `MPV_RENDER_PARAM_SW_POINTER` in render.h), so each of these is needed
/// for it to stay inside `len` bytes: a row of 4-byte pixels fits the stride, the stride and the
/// pointer are multiples of the pixel size (4), and `stride * height` fits both the buffer and a
/// C `int`.
fn check_sw_target(
    width_px: usize,
    height_px: usize,
    stride_bytes: usize,
    pointer: *const u8,
    len: usize,
) -> Result<[c_int; 2], MpvError> {
    if width_px == 0 || height_px == 0 {
        return Err(invalid("the picture must be at least 1x1 pixels"));
    }
    let size = match (c_int::try_from(width_px), c_int::try_from(height_px)) {
        (Ok(w), Ok(h)) => [w, h],
        _ => return Err(invalid("the picture size is beyond a C int")),
    };
    let row = width_px
        .checked_mul(4)
        .ok_or_else(|| invalid("a row's size overflows"))?;
    if stride_bytes < row {
        return Err(invalid("the stride is shorter than a row of 4-byte pixels"));
    }
    if !stride_bytes.is_multiple_of(4) {
        return Err(invalid("the stride must be a multiple of 4 bytes"));
    }
    if !(pointer as usize).is_multiple_of(4) {
        return Err(invalid("the buffer must start at a multiple of 4 bytes"));
    }
    let total = stride_bytes
        .checked_mul(height_px)
        .filter(|&t| c_int::try_from(t).is_ok())
        .ok_or_else(|| invalid("stride x height does not fit a C int"))?;
    if len < total {
        return Err(invalid("the buffer is smaller than stride x height"));
    }
    Ok(size)
}

impl SwRenderContext {
    /// A software renderer context (no GPU, no window) for `mpv`'s video output.
    pub fn new(mpv: &Mpv) -> Result<SwRenderContext, MpvError> {
        let api = c"sw";
        let mut params = [
            param(ffi::MPV_RENDER_PARAM_API_TYPE, api.as_ptr() as *mut c_void),
            end(),
        ];
        // SAFETY: terminated params whose string is static; no GL involved.
        let raw = unsafe { Raw::create(mpv, &mut params, "software") }?;
        Ok(SwRenderContext { raw })
    }

    /// Has `waker` woken (from an mpv thread) when a new frame should be drawn, and once now.
    pub fn set_update_callback(&mut self, waker: impl Wake) {
        self.raw.set_update(waker);
    }

    /// What the next frame is and when it is due.
    pub fn next_frame_info(&self) -> FrameInfo {
        self.raw.next_frame_info()
    }

    /// Lets mpv process pending work; true when a new video frame should be rendered.
    pub fn update(&self) -> bool {
        // SAFETY: valid context; `&self` on a !Sync type, so no other render call runs now, and
        // no mpv callback can reach it (a `Wake` holds no context).
        let flags = unsafe { ffi::mpv_render_context_update(self.raw.ctx) };
        flags & ffi::MPV_RENDER_UPDATE_FRAME != 0
    }

    /// Draws the current frame (returning as soon as it is drawn, not at its due time) into
    /// `pixels` as 4 bytes per pixel, R G B and one unused byte
    /// ("rgb0"), `stride_bytes` per row. The buffer must hold `stride_bytes * height_px` bytes,
    /// start at an address that is a multiple of 4, and the stride must hold a row and be a
    /// multiple of 4 (mpv is fastest with 64); otherwise this returns an error and mpv is not
    /// called.
    pub fn render(
        &self,
        width_px: usize,
        height_px: usize,
        stride_bytes: usize,
        pixels: &mut [u8],
    ) -> Result<(), MpvError> {
        let mut size = check_sw_target(
            width_px,
            height_px,
            stride_bytes,
            pixels.as_ptr(),
            pixels.len(),
        )?;
        let format = c"rgb0";
        let mut stride: usize = stride_bytes;
        let mut params = [
            param(
                ffi::MPV_RENDER_PARAM_SW_SIZE,
                size.as_mut_ptr() as *mut c_void,
            ),
            param(
                ffi::MPV_RENDER_PARAM_SW_FORMAT,
                format.as_ptr() as *mut c_void,
            ),
            param(
                ffi::MPV_RENDER_PARAM_SW_STRIDE,
                &mut stride as *mut usize as *mut c_void,
            ),
            param(
                ffi::MPV_RENDER_PARAM_SW_POINTER,
                pixels.as_mut_ptr() as *mut c_void,
            ),
            no_block(),
            end(),
        ];
        // SAFETY: valid context, one render call at a time (`&self`, !Sync). mpv writes within
        // pointer..pointer + stride * height, which `check_sw_target` showed to lie inside
        // `pixels` (borrowed mutably for the call), with the alignment and int range mpv needs;
        // the params and what they point to live until the call returns.
        let code = unsafe { ffi::mpv_render_context_render(self.raw.ctx, params.as_mut_ptr()) };
        check(code, || "render a video frame in software".into())
    }

    /// Tells mpv a frame was just presented, for its frame timing.
    pub fn report_swap(&self) {
        // SAFETY: valid context, one render call at a time (`&self`, !Sync).
        unsafe { ffi::mpv_render_context_report_swap(self.raw.ctx) };
    }
}

/// An OpenGL render context: mpv draws into the current GL context's framebuffer.
pub struct GlRenderContext {
    // Field order is drop order: the context is freed first, then what it used.
    raw: Raw,
    _proc_address: Box<ProcAddressFn>,
    _display: Option<Rc<dyn HasDisplayHandle>>,
}

unsafe extern "C" fn call_proc_address(ctx: *mut c_void, name: *const c_char) -> *mut c_void {
    if ctx.is_null() || name.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: ctx is the inner box of the ProcAddressFn kept in the GlRenderContext until after
    // the context is freed. mpv resolves GL functions only inside render API calls (where the GL
    // context is current), so this runs on the thread that makes them: the one owning the
    // (!Send) context, which is where the (!Send) closure lives. name is a C string from mpv.
    let f = unsafe { &*(ctx as *const ProcAddressFn) };
    // SAFETY: as above, a NUL-terminated name valid for the call.
    f(unsafe { CStr::from_ptr(name) }) as *mut c_void
}

/// The display parameter for mpv's hwdec interop, if the owner names an X11 (Xlib) or Wayland
/// display. An XCB-only connection has no Xlib `Display` for mpv, so it gets none.
fn display_param(owner: &dyn HasDisplayHandle) -> Option<ffi::mpv_render_param> {
    match owner.display_handle().ok()?.as_raw() {
        RawDisplayHandle::Xlib(h) => h
            .display
            .map(|d| param(ffi::MPV_RENDER_PARAM_X11_DISPLAY, d.as_ptr())),
        RawDisplayHandle::Wayland(h) => {
            Some(param(ffi::MPV_RENDER_PARAM_WL_DISPLAY, h.display.as_ptr()))
        }
        _ => None,
    }
}

impl GlRenderContext {
    /// An OpenGL context for `mpv`'s video output. `get_proc_address` resolves GL function
    /// names (glutin's `Display::get_proc_address`). `display`, usually the window, gives mpv
    /// its X11 or Wayland display for hardware decoding interop (`--hwdec=vaapi`); it is kept
    /// alive by the context, so the display mpv was given outlives it.
    ///
    /// # Safety
    ///
    /// - The OpenGL context that `get_proc_address` belongs to is current on this thread now.
    /// - That same GL context is current on the thread that drops the returned value (mpv frees
    ///   its GL objects then; `Drop` cannot be `unsafe`, so this is promised here).
    /// - `display`, if given, keeps the display connection its handle names open for as long as
    ///   it lives (a winit `Window` does: it holds its connection).
    pub unsafe fn new(
        mpv: &Mpv,
        get_proc_address: impl Fn(&CStr) -> *const c_void + 'static,
        display: Option<Rc<dyn HasDisplayHandle>>,
    ) -> Result<GlRenderContext, MpvError> {
        let proc_box: Box<ProcAddressFn> = Box::new(Box::new(get_proc_address));
        let mut init = ffi::mpv_opengl_init_params {
            get_proc_address: Some(call_proc_address),
            get_proc_address_ctx: &*proc_box as *const ProcAddressFn as *mut c_void,
        };
        let api = c"opengl";
        let mut params = vec![
            param(ffi::MPV_RENDER_PARAM_API_TYPE, api.as_ptr() as *mut c_void),
            param(
                ffi::MPV_RENDER_PARAM_OPENGL_INIT_PARAMS,
                &mut init as *mut _ as *mut c_void,
            ),
        ];
        params.extend(display.as_deref().and_then(display_param));
        params.push(end());
        // SAFETY: terminated params; `init`, the proc-address box and the static string live
        // for the call, and the display (kept in the result) for the context's life. The GL
        // context is current: the caller's promise.
        let raw = unsafe { Raw::create(mpv, &mut params, "OpenGL") }?;
        Ok(GlRenderContext {
            raw,
            _proc_address: proc_box,
            _display: display,
        })
    }

    /// Has `waker` woken (from an mpv thread) when a new frame should be drawn, and once now.
    /// Needs no current GL context: mpv touches no GL state here.
    pub fn set_update_callback(&mut self, waker: impl Wake) {
        self.raw.set_update(waker);
    }

    /// What the next frame is and when it is due. Needs no current GL context: mpv reads its
    /// queued frame only.
    pub fn next_frame_info(&self) -> FrameInfo {
        self.raw.next_frame_info()
    }

    /// Lets mpv process pending work; true when a new video frame should be rendered.
    ///
    /// # Safety
    ///
    /// The GL context this was created with is current on the calling thread.
    pub unsafe fn update(&self) -> bool {
        // SAFETY: valid context, one render call at a time (!Sync); GL current: the caller's
        // promise.
        let flags = unsafe { ffi::mpv_render_context_update(self.raw.ctx) };
        flags & ffi::MPV_RENDER_UPDATE_FRAME != 0
    }

    /// Draws the current frame into OpenGL framebuffer `fbo` (0 = the window) of the given
    /// size in pixels, returning as soon as it is drawn (not at its due time: see
    /// [`GlRenderContext::next_frame_info`]). `flip_y` is true for the window's default framebuffer.
    ///
    /// # Safety
    ///
    /// The GL context this was created with is current on the calling thread, and `fbo` is 0
    /// or a complete framebuffer object of that context.
    pub unsafe fn render(
        &self,
        fbo: i32,
        width_px: i32,
        height_px: i32,
        flip_y: bool,
    ) -> Result<(), MpvError> {
        let mut target = ffi::mpv_opengl_fbo {
            fbo,
            w: width_px,
            h: height_px,
            internal_format: 0,
        };
        let mut flip: c_int = flip_y.into();
        let mut params = [
            param(
                ffi::MPV_RENDER_PARAM_OPENGL_FBO,
                &mut target as *mut _ as *mut c_void,
            ),
            param(
                ffi::MPV_RENDER_PARAM_FLIP_Y,
                &mut flip as *mut c_int as *mut c_void,
            ),
            no_block(),
            end(),
        ];
        // SAFETY: valid context, one render call at a time (!Sync); params live for the call;
        // GL current and `fbo` valid: the caller's promise.
        let code = unsafe { ffi::mpv_render_context_render(self.raw.ctx, params.as_mut_ptr()) };
        check(code, || "render a video frame with OpenGL".into())
    }

    /// Tells mpv a frame was just presented (after a buffer swap), for its frame timing.
    ///
    /// # Safety
    ///
    /// The GL context this was created with is current on the calling thread.
    pub unsafe fn report_swap(&self) {
        // SAFETY: valid context, one render call at a time (!Sync); GL current: the caller's
        // promise.
        unsafe { ffi::mpv_render_context_report_swap(self.raw.ctx) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A core with mpv's libmpv video output and nothing else, and a software context on it.
    fn sw() -> (Mpv, super::super::Events, SwRenderContext) {
        let (mpv, events) = Mpv::new(&[
            ("config", "no"),
            ("terminal", "no"),
            ("vo", "libmpv"),
            ("audio", "no"),
            ("idle", "yes"),
        ])
        .expect("an mpv core");
        let ctx = SwRenderContext::new(&mpv).expect("a software render context");
        (mpv, events, ctx)
    }

    /// A buffer whose start is a multiple of 64 bytes (a Vec<u8> promises only 1).
    fn aligned(len: usize) -> (Vec<u64>, usize) {
        (vec![0u64; len.div_ceil(8) + 8], len)
    }

    fn bytes(buf: &mut (Vec<u64>, usize)) -> &mut [u8] {
        let len = buf.1;
        // SAFETY: reinterpreting initialized u64s as bytes; u8 has no alignment or validity
        // requirement, and `len` is within the Vec's bytes.
        let all = unsafe {
            std::slice::from_raw_parts_mut(buf.0.as_mut_ptr() as *mut u8, buf.0.len() * 8)
        };
        let skip = (64 - all.as_ptr() as usize % 64) % 64;
        &mut all[skip..skip + len]
    }

    fn refused(result: Result<(), MpvError>, reason: &str) {
        let e = result.expect_err("mpv must not be asked to draw here");
        assert_eq!(e.code, ERROR_INVALID_PARAMETER, "{e}");
        assert!(e.context.contains(reason), "{e}");
    }

    #[test]
    fn a_sound_target_renders() {
        // No file is loaded: mpv clears the picture, which proves the call got through.
        let (_mpv, _events, ctx) = sw();
        let mut buf = aligned(64 * 16);
        let px = bytes(&mut buf);
        px.fill(0xAB);
        ctx.render(16, 16, 64, px).expect("a valid target renders");
        assert!(px.chunks(4).all(|p| p[..3] == [0, 0, 0]), "mpv drew black");
    }

    #[test]
    fn a_buffer_too_small_is_refused() {
        let (_mpv, _events, ctx) = sw();
        let mut buf = aligned(64 * 16 - 1);
        refused(
            ctx.render(16, 16, 64, bytes(&mut buf)),
            "smaller than stride",
        );
        // mpv may write the padding of every row, the last one too.
        let mut buf = aligned(128 * 15 + 16 * 4);
        refused(
            ctx.render(16, 16, 128, bytes(&mut buf)),
            "smaller than stride",
        );
    }

    #[test]
    fn absurd_sizes_are_refused() {
        let (_mpv, _events, ctx) = sw();
        let mut buf = aligned(4096);
        let px = bytes(&mut buf);
        refused(ctx.render(usize::MAX, 1, 4096, px), "picture size");
        refused(ctx.render(1, usize::MAX, 4096, px), "picture size");
        refused(ctx.render(1 << 30, 1, 1 << 31, px), "shorter than a row");
        refused(ctx.render(1, 1, usize::MAX & !63, px), "stride x height");
        // Overflows usize.
        refused(
            ctx.render(1, 3, (usize::MAX / 2) & !63, px),
            "stride x height",
        );
        // Fits usize, not mpv's int: 2^31 bytes.
        refused(ctx.render(1, 1 << 16, 1 << 15, px), "stride x height");
        refused(ctx.render(0, 16, 64, px), "at least 1x1");
        refused(ctx.render(16, 0, 64, px), "at least 1x1");
    }

    #[test]
    fn a_stride_mpv_cannot_use_is_refused() {
        let (_mpv, _events, ctx) = sw();
        let mut buf = aligned(128 * 16);
        let px = bytes(&mut buf);
        refused(ctx.render(16, 16, 60, px), "shorter than a row");
        refused(ctx.render(16, 16, 66, px), "multiple of 4");
        ctx.render(16, 16, 68, px)
            .expect("a stride of whole pixels renders");
    }

    #[test]
    fn a_misaligned_buffer_is_refused() {
        let (_mpv, _events, ctx) = sw();
        let mut buf = aligned(64 * 16 + 4);
        let px = bytes(&mut buf);
        refused(ctx.render(16, 16, 64, &mut px[1..]), "multiple of 4 bytes");
        ctx.render(16, 16, 64, &mut px[4..])
            .expect("a buffer at a multiple of 4 renders");
    }

    #[test]
    fn frame_times_read_in_either_unit() {
        let info = |t| FrameInfo {
            present: true,
            target_time: t,
            ..FrameInfo::default()
        };
        let now_us = 5_000_000_000;
        assert_eq!(info(now_us + 12_000).due_in_us(now_us), Some(12_000));
        assert_eq!(info(now_us - 3_000).due_in_us(now_us), Some(-3_000));
        assert_eq!(
            info((now_us + 12_000) * 1000).due_in_us(now_us),
            Some(12_000)
        );
        assert_eq!(info(0).due_in_us(now_us), None);
        assert_eq!(info(now_us * 7).due_in_us(now_us), None);
    }

    #[test]
    fn the_update_waker_is_woken_and_freed_with_the_context() {
        let (_mpv, _events, mut ctx) = sw();
        let (tx, rx) = crossbeam_channel::bounded::<()>(1);
        ctx.set_update_callback(tx);
        // mpv calls the callback once when it is set.
        rx.recv().expect("woken when set");
        drop(ctx);
        // Freeing the context dropped the only sender: mpv holds no waker any more.
        assert_eq!(rx.recv(), Err(crossbeam_channel::RecvError));
    }
}
