//! Continuous scanning for camera loops: the ladder spread over successive frames.
//!
//! A camera hands over 15–30 frames a second, most of them without a code, and the
//! next frame shows nearly the same scene. Running the whole ladder on each frame
//! spends most of the time on frames that hold nothing. A [`Scanner`] instead runs the
//! first pass on every frame (it reads most codes alone), then the pass that read the
//! last code, then later passes of the ladder in turn while the frame's time budget
//! lasts, resuming on the next frame where this one stopped. A frame whose first pass
//! saw nothing like a finder pattern stops there (the cheap first look, `decode.rs`);
//! the later passes look only around the finder pairs it saw, as in `decode_luma`.

use std::time::{Duration, Instant};

use super::decode::{self, Images, Pass};
use super::{DecodeOptions, DecodedCode, LumaFrame, QrError, gray};

/// How a [`Scanner`] spends its time on each frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanOptions {
    /// The steps the ladder may use.
    pub decode: DecodeOptions,
    /// Time after which no further pass starts on a frame. The first pass always runs,
    /// and so does one later pass when the frame looks like holding a code, so that the
    /// whole ladder is reached over successive frames however small the budget.
    pub budget: Duration,
}

impl Default for ScanOptions {
    /// The budget the bindings use for camera frames: the first pass at 720p and one
    /// or two later passes on a mid-range phone, well inside a 30 fps frame interval.
    fn default() -> Self {
        Self { decode: DecodeOptions::default(), budget: Duration::from_millis(DEFAULT_BUDGET_MS) }
    }
}

/// The default per-frame budget of [`ScanOptions`], in milliseconds.
pub const DEFAULT_BUDGET_MS: u64 = 15;

/// Keeps what one frame learned for the next: where in the ladder to go on, and
/// which pass last read a code. One per camera stream; not shared between threads
/// (the bindings wrap it in a lock).
#[derive(Debug, Clone)]
pub struct Scanner {
    options: ScanOptions,
    /// Frame geometry the ladder below was built for.
    geometry: (u32, u32),
    ladder: Vec<Pass>,
    /// Index of the next later pass (1.. of the ladder) to run.
    cursor: usize,
    /// Index of the pass that read the last code.
    last_hit: Option<usize>,
    /// Passes run on the last frame (for tests and diagnostics).
    last_passes: usize,
}

impl Scanner {
    pub fn new(options: ScanOptions) -> Self {
        Self { options, geometry: (0, 0), ladder: Vec::new(), cursor: 1, last_hit: None, last_passes: 0 }
    }

    pub fn options(&self) -> &ScanOptions {
        &self.options
    }

    /// How many passes of the ladder the last frame ran.
    pub fn last_passes(&self) -> usize {
        self.last_passes
    }

    /// Every code read in this frame within its budget; an empty list when none was
    /// (the next frames go on with the ladder). A malformed frame is an error.
    pub fn scan(&mut self, frame: &LumaFrame<'_>) -> Result<Vec<DecodedCode>, QrError> {
        gray::validate(frame)?;
        let start = Instant::now();
        self.last_passes = 0;
        if self.options.decode.plain_rqrr {
            self.last_passes = 1;
            return decode::decode_luma_with(frame, &self.options.decode);
        }
        if self.geometry != (frame.width, frame.height) {
            self.geometry = (frame.width, frame.height);
            self.ladder = decode::ladder(frame, &self.options.decode);
            self.cursor = 1;
            self.last_hit = None;
        }
        let mut images = Images::new(frame);
        let look = decode::first_look(&self.ladder, &mut images, self.options.decode.first_look);
        self.last_passes = look.ran.len();
        if !look.found.is_empty() {
            self.last_hit = look.ran.last().copied();
            return Ok(look.found);
        }
        if !look.go_on {
            return Ok(Vec::new());
        }
        let later = self.ladder.len() - 1;
        if later == 0 {
            return Ok(Vec::new());
        }
        // The pass that read the last code first (the code is likely still there, at
        // the same size), then the ladder in turn from where the last frame stopped.
        let hit = self.last_hit.filter(|&i| i > 0);
        let cursor = self.cursor;
        let mut views = decode::Views::new(images, &look);
        let order = hit.into_iter().chain((0..later).map(|k| 1 + (cursor - 1 + k) % later).filter(|&i| Some(i) != hit))
            .filter(|&i| look.wants(i, &self.ladder[i]));
        for i in order {
            if self.last_passes > look.ran.len() && start.elapsed() >= self.options.budget {
                break;
            }
            self.last_passes += 1;
            if Some(i) != hit {
                self.cursor = 1 + i % later;
            }
            let pass = self.ladder[i];
            let found = views.run(&pass);
            if !found.is_empty() {
                self.last_hit = Some(i);
                return Ok(found);
            }
            if Some(i) == hit {
                // The code has moved on or changed; no reason to favour this pass.
                self.last_hit = None;
            }
        }
        Ok(Vec::new())
    }
}

impl Default for Scanner {
    fn default() -> Self {
        Self::new(ScanOptions::default())
    }
}
