//! Shared helpers for the scenarios.
