//! QR engine: decode camera frames, render codes (issue 3).
