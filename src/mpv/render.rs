//! mpv's render API: mpv decodes, we say where and when to draw.
//!
//! Two back ends: OpenGL (the window, through glutin) and "sw", mpv's software renderer into a
//! memory buffer (headless runs, tests and benchmarks). A context is tied to the thread that
//! made it (for OpenGL, the thread whose GL context is current), so it is neither Send nor Sync.

use super::{check, ffi, Core, Mpv, MpvError};
use std::ffi::{c_void, CStr};
use std::os::raw::{c_char, c_int};
use std::ptr;
use std::sync::Arc;

type UpdateFn = Box<dyn Fn() + Send + Sync>;
type ProcAddressFn = Box<dyn Fn(&CStr) -> *const c_void>;

/// A render context bound to one mpv core.
pub struct RenderContext {
    ctx: *mut ffi::mpv_render_context,
    update: Option<Box<UpdateFn>>,
    _proc_address: Option<Box<ProcAddressFn>>,
    // Declared last: dropped after the context is freed, so the core outlives it.
    _core: Arc<Core>,
}

unsafe extern "C" fn call_proc_address(ctx: *mut c_void, name: *const c_char) -> *mut c_void {
    if ctx.is_null() || name.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: ctx is the Box<ProcAddressFn> kept in the RenderContext; name is from mpv.
    let f = unsafe { &*(ctx as *const ProcAddressFn) };
    f(unsafe { CStr::from_ptr(name) }) as *mut c_void
}

unsafe extern "C" fn call_update(ctx: *mut c_void) {
    // SAFETY: ctx is the Box<UpdateFn> kept in the RenderContext until the callback is removed.
    let f = unsafe { &*(ctx as *const UpdateFn) };
    f();
}

fn param(type_: c_int, data: *mut c_void) -> ffi::mpv_render_param {
    ffi::mpv_render_param { type_, data }
}

fn end() -> ffi::mpv_render_param {
    param(ffi::MPV_RENDER_PARAM_INVALID, ptr::null_mut())
}

impl RenderContext {
    /// An OpenGL context. Call it with the GL context current; `get_proc_address` resolves GL
    /// function names (glutin's `Display::get_proc_address`).
    pub fn new_gl(
        mpv: &Mpv,
        get_proc_address: impl Fn(&CStr) -> *const c_void + 'static,
    ) -> Result<RenderContext, MpvError> {
        let proc_box: Box<ProcAddressFn> = Box::new(Box::new(get_proc_address));
        let mut init = ffi::mpv_opengl_init_params {
            get_proc_address: Some(call_proc_address),
            get_proc_address_ctx: &*proc_box as *const ProcAddressFn as *mut c_void,
        };
        let api = c"opengl";
        let mut params = [
            param(ffi::MPV_RENDER_PARAM_API_TYPE, api.as_ptr() as *mut c_void),
            param(
                ffi::MPV_RENDER_PARAM_OPENGL_INIT_PARAMS,
                &mut init as *mut _ as *mut c_void,
            ),
            end(),
        ];
        Self::create(mpv, &mut params, Some(proc_box), "OpenGL")
    }

    /// A software renderer context (no GPU, no window).
    pub fn new_sw(mpv: &Mpv) -> Result<RenderContext, MpvError> {
        let api = c"sw";
        let mut params = [
            param(ffi::MPV_RENDER_PARAM_API_TYPE, api.as_ptr() as *mut c_void),
            end(),
        ];
        Self::create(mpv, &mut params, None, "software")
    }

    fn create(
        mpv: &Mpv,
        params: &mut [ffi::mpv_render_param],
        proc_address: Option<Box<ProcAddressFn>>,
        what: &str,
    ) -> Result<RenderContext, MpvError> {
        let mut ctx = ptr::null_mut();
        // SAFETY: params is terminated by MPV_RENDER_PARAM_INVALID and everything it points
        // to lives until the call returns (proc_address is kept in the result).
        let code =
            unsafe { ffi::mpv_render_context_create(&mut ctx, mpv.raw(), params.as_mut_ptr()) };
        check(code, || format!("create the {what} video renderer"))?;
        Ok(RenderContext {
            ctx,
            update: None,
            _proc_address: proc_address,
            _core: mpv.core.clone(),
        })
    }

    /// Calls `f` (from an mpv thread) when a new frame should be drawn. `f` must not block and
    /// must not call into mpv: it should only wake the rendering thread.
    pub fn set_update_callback(&mut self, f: impl Fn() + Send + Sync + 'static) {
        let boxed: Box<UpdateFn> = Box::new(Box::new(f));
        let data = &*boxed as *const UpdateFn as *mut c_void;
        // SAFETY: valid context; the box is kept alive in self until the context is freed.
        unsafe { ffi::mpv_render_context_set_update_callback(self.ctx, Some(call_update), data) };
        self.update = Some(boxed);
    }

    /// Lets mpv process pending work; true when a new video frame should be rendered.
    pub fn update(&self) -> bool {
        // SAFETY: valid context, called on its thread.
        unsafe { ffi::mpv_render_context_update(self.ctx) & ffi::MPV_RENDER_UPDATE_FRAME != 0 }
    }

    /// Draws the current frame into OpenGL framebuffer `fbo` (0 = the window) of the given
    /// size in pixels. `flip_y` is true for the window's default framebuffer.
    pub fn render_gl(
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
            end(),
        ];
        // SAFETY: valid context with its GL context current; params live for the call.
        let code = unsafe { ffi::mpv_render_context_render(self.ctx, params.as_mut_ptr()) };
        check(code, || "render a video frame with OpenGL".into())
    }

    /// Draws the current frame into `pixels` as 4 bytes per pixel, R G B and one unused byte
    /// ("rgb0"), `stride_bytes` per row.
    pub fn render_sw(
        &self,
        width_px: usize,
        height_px: usize,
        stride_bytes: usize,
        pixels: &mut [u8],
    ) -> Result<(), MpvError> {
        let invalid = |what: &str| MpvError {
            code: -4, // MPV_ERROR_INVALID_PARAMETER
            context: format!("render a video frame in software: {what}"),
        };
        if stride_bytes < width_px * 4 || !stride_bytes.is_multiple_of(64) {
            return Err(invalid("stride must hold a row and be a multiple of 64"));
        }
        if pixels.len() < stride_bytes * height_px {
            return Err(invalid("buffer too small"));
        }
        let mut size: [c_int; 2] = [width_px as c_int, height_px as c_int];
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
            end(),
        ];
        // SAFETY: the buffer is at least stride*height bytes, checked above.
        let code = unsafe { ffi::mpv_render_context_render(self.ctx, params.as_mut_ptr()) };
        check(code, || "render a video frame in software".into())
    }

    /// Tells mpv a frame was just presented (after a buffer swap), for its frame timing.
    pub fn report_swap(&self) {
        // SAFETY: valid context.
        unsafe { ffi::mpv_render_context_report_swap(self.ctx) };
    }
}

impl Drop for RenderContext {
    fn drop(&mut self) {
        // SAFETY: valid context; freeing it removes the update callback before its box drops.
        unsafe { ffi::mpv_render_context_free(self.ctx) };
        self.update = None;
    }
}
