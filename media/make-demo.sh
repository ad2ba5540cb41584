#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Writes media/demo.mp4, the demo show bundled with playhead.
#
#   bash media/make-demo.sh
#
# The show: 640x360, 25 fps, exactly 120 s (3000 frames), H.264 yuv420p, no audio, one keyframe
# every 25 frames (1 s) and no B-frames, so that a locate anywhere decodes at most 24 frames and
# a paused frame is the frame the decoder says it is. A person sees the title, a big frame
# counter, the SMPTE timecode at 25 fps, the musical position at 120 BPM 4/4 (bar 1 beat 1 at
# frame 0, one beat = 12.5 frames) and a bar that sweeps across once per beat, so a stalled
# picture is obvious.
#
# FRAME CODE: the frame number, machine-readable, in a black band along the bottom of the picture
# (video pixels, origin top left, 640x360 picture). src/framecode.rs reads it and documents the
# same layout; change both together.
#
#   band:   x 0..640, y 320..360, black
#   cells:  21 cells, each 30x30, cell k spans x 5+30k .. 35+30k, y 325..355
#           (centre of cell k: x = 20 + 30k, y = 340)
#   k = 0       marker, always white
#   k = 1       marker, always black
#   k = 2..17   frame number, bit 15 (k = 2) down to bit 0 (k = 17); white = 1, black = 0
#   k = 18      odd parity: white when bits 15..0 hold an even number of ones, so the 17 cells
#               k = 2..18 always hold an odd number of white cells
#   k = 19      marker, always black
#   k = 20      marker, always white
#
# The cells are large (30x30 video pixels, 60x60 at 1280x720) and pure black or white, so they
# survive H.264 at low bitrates and any uniform scaling; a reader samples the middle of each cell.
# White/black/white-black markers at both ends let a reader reject a black screen, a white screen,
# or a picture placed somewhere other than where it assumed.
#
# Deterministic as far as ffmpeg allows: frame-number driven (no wall clock), a fixed x264 thread
# count, bitexact muxing and no metadata. x264 still records its version in the stream, so a
# different ffmpeg/x264 build may give different bytes but the same pictures.

set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/demo.mp4"

font_dir=/usr/share/fonts/truetype/dejavu
font_sans="$font_dir/DejaVuSans.ttf"
font_bold="$font_dir/DejaVuSans-Bold.ttf"
font_mono="$font_dir/DejaVuSansMono.ttf"

if ! command -v ffmpeg >/dev/null 2>&1; then
    echo "error: ffmpeg not found. On Debian or Ubuntu: sudo apt-get install ffmpeg" >&2
    exit 1
fi
for font in "$font_sans" "$font_bold" "$font_mono"; do
    if [[ ! -r "$font" ]]; then
        echo "error: font $font not found; the demo show is drawn with the DejaVu fonts." >&2
        echo "On Debian or Ubuntu: sudo apt-get install fonts-dejavu-core" >&2
        exit 1
    fi
done

frames=3000
fps=25

# Frame code geometry, in video pixels; see the layout above.
cell_px=30
cells_x0_px=5
cells_y_px=325
band_y_px=320

cell_x() { echo $((cells_x0_px + cell_px * $1)); }
cell_box() {
    # A white filled cell k, drawn only on frames where the expression $2 is non-zero.
    echo "drawbox=x=$(cell_x "$1"):y=$cells_y_px:w=$cell_px:h=$cell_px:color=white:t=fill:enable='$2'"
}

# Sum of the 16 low bits of n, for the parity cell.
ones="0"
for ((bit = 0; bit < 16; bit++)); do
    ones="$ones+mod(floor(n/$((1 << bit))),2)"
done

# Beat index since frame 0 at 120 BPM and 25 fps: one beat = 12.5 frames = n*2/25.
beat="floor(n*2/25)"

filters=(
    # Title, frame counter, timecode, musical position.
    "drawtext=fontfile=$font_sans:text='playhead demo show':fontsize=26:fontcolor=0xc8d0e0:x=(w-text_w)/2:y=16"
    "drawtext=fontfile=$font_bold:text='frame %{eif\:n\:d}':fontsize=76:fontcolor=white:x=(w-text_w)/2:y=58"
    "drawtext=fontfile=$font_mono:timecode='00\:00\:00\:00':rate=$fps:fontsize=40:fontcolor=0xffd060:x=(w-text_w)/2:y=152"
    "drawtext=fontfile=$font_mono:text='bar %{eif\:floor(n/50)+1\:d} beat %{eif\:mod($beat,4)+1\:d}':fontsize=40:fontcolor=0x80e0ff:x=(w-text_w)/2:y=204"
    # Beat lights: four boxes, the current beat filled; the downbeat in a warmer colour.
    "drawbox=x=20:y=262:w=600:h=40:color=0x3a4458:t=fill"
    "drawbox=x=20:y=262:w=150:h=40:color=0xe06040:t=fill:enable='eq(mod($beat,4),0)'"
    "drawbox=x=170:y=262:w=150:h=40:color=0x4080e0:t=fill:enable='eq(mod($beat,4),1)'"
    "drawbox=x=320:y=262:w=150:h=40:color=0x4080e0:t=fill:enable='eq(mod($beat,4),2)'"
    "drawbox=x=470:y=262:w=150:h=40:color=0x4080e0:t=fill:enable='eq(mod($beat,4),3)'"
    "drawbox=x=168:y=262:w=4:h=40:color=0x202838:t=fill"
    "drawbox=x=318:y=262:w=4:h=40:color=0x202838:t=fill"
    "drawbox=x=468:y=262:w=4:h=40:color=0x202838:t=fill"
    # Frame code band and its fixed markers.
    "drawbox=x=0:y=$band_y_px:w=640:h=40:color=black:t=fill"
    "drawbox=x=$(cell_x 0):y=$cells_y_px:w=$cell_px:h=$cell_px:color=white:t=fill"
    "drawbox=x=$(cell_x 20):y=$cells_y_px:w=$cell_px:h=$cell_px:color=white:t=fill"
)
for ((bit = 15; bit >= 0; bit--)); do
    filters+=("$(cell_box $((17 - bit)) "mod(floor(n/$((1 << bit))),2)")")
done
filters+=("$(cell_box 18 "eq(mod($ones,2),0)")")

# Join the per-frame drawing into one chain, then lay the sweeping bar over it: overlay's
# position is evaluated every frame, drawbox's only once.
chain="$(IFS=,; echo "${filters[*]}")"
graph="color=c=0x202838:s=640x360:r=$fps:d=$((frames / fps)),format=yuv420p,$chain[bg];"
graph+="color=c=white:s=12x40:r=$fps:d=$((frames / fps)),format=yuv420p[sweep];"
# overlay's n runs one ahead of the frame number here, so the position comes from t (= n/25 exactly
# with the colour source's 1/25 time base): 2 beats per second.
graph+="[bg][sweep]overlay=x='20+(600-12)*(2*t-floor(2*t))':y=262:eval=frame:shortest=1,format=yuv420p[v]"

tmp="$(mktemp --suffix=.mp4 "$here/.demo.XXXXXX")"
trap 'rm -f "$tmp"' EXIT

start_s=$SECONDS
ffmpeg -hide_banner -loglevel warning -stats -y \
    -filter_complex "$graph" -map '[v]' \
    -frames:v "$frames" -an \
    -c:v libx264 -preset slow -tune animation -crf 30 \
    -g "$fps" -keyint_min "$fps" -sc_threshold 0 -bf 0 \
    -x264-params "threads=2:lookahead-threads=1" \
    -pix_fmt yuv420p -profile:v high \
    -movflags +faststart -map_metadata -1 \
    -fflags +bitexact -flags:v +bitexact \
    "$tmp"
# mktemp creates the file private; the show is meant to be readable by anyone.
chmod 644 "$tmp"
mv "$tmp" "$out"
trap - EXIT

size_bytes=$(stat -c %s "$out")
echo "wrote $out: $size_bytes bytes, $frames frames, encoded in $((SECONDS - start_s)) s"
