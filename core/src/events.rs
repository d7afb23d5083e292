//! State changes reported up to the app through one [`EventListener`].
//!
//! Events are delivered in order on one dedicated thread, never on the caller's: a
//! slow listener cannot stall the core, and a panicking one is contained (logged and
//! skipped) instead of taking the core down.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    SyncStarted,
    SyncFinished { sent: u32, failed: u32, pending: u32, dead: u32 },
    OutboxChanged { pending: u32, dead: u32 },
    DeviceBound { device_id: String },
    DeviceRevoked { device_id: String },
    SessionStarted { expires_at_ms: i64 },
    SessionEnded { reason: String },
    /// A clock-in or clock-out was recorded on the phone (queued for the server).
    PunchRecorded { punch_id: String, kind: crate::PunchKind, time_ms: i64, manual: bool },
    /// The server's verdict on a punch; `reason` says why when it was rejected.
    PunchSettled { punch_id: String, accepted: bool, reason: Option<String> },
    /// A push message entered the inbox; `route` is where a tap leads, `shown` whether
    /// a notification is due (not in quiet hours, not data only).
    PushReceived { message_id: String, kind: String, route: String, shown: bool },
    /// The badge to set: unread push messages, counted from the inbox.
    BadgeChanged { count: u32 },
}

pub trait EventListener: Send + Sync {
    fn on_event(&self, event: Event);
}

/// The delivery thread and its queue.
pub struct EventBus {
    tx: Mutex<Option<Sender<Event>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventBus(..)")
    }
}

impl EventBus {
    pub fn new(listener: Option<Arc<dyn EventListener>>) -> Self {
        let Some(listener) = listener else {
            return Self { tx: Mutex::new(None), thread: Mutex::new(None) };
        };
        let (tx, rx) = channel::<Event>();
        let spawned = std::thread::Builder::new().name("taipei-events".into()).spawn(move || {
            for event in rx {
                if catch_unwind(AssertUnwindSafe(|| listener.on_event(event))).is_err() {
                    tracing::error!("the event listener panicked; the event was dropped");
                }
            }
        });
        match spawned {
            Ok(handle) => Self { tx: Mutex::new(Some(tx)), thread: Mutex::new(Some(handle)) },
            Err(e) => {
                tracing::error!(error = %e, "cannot start the event thread; events are off");
                Self { tx: Mutex::new(None), thread: Mutex::new(None) }
            }
        }
    }

    pub fn emit(&self, event: Event) {
        if let Some(tx) = self.tx.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            // A send fails only once the thread is gone (closing): nothing to tell then.
            let _ = tx.send(event);
        }
    }

    /// Delivers what is queued, then stops the thread. Blocking.
    pub fn close(&self) {
        drop(self.tx.lock().unwrap_or_else(|p| p.into_inner()).take());
        if let Some(handle) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = handle.join();
        }
    }
}

impl Drop for EventBus {
    fn drop(&mut self) {
        // Close the queue so the thread ends; no join, a drop must not block.
        drop(self.tx.lock().unwrap_or_else(|p| p.into_inner()).take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Recorder {
        seen: Mutex<Vec<(Event, std::thread::ThreadId)>>,
    }

    impl EventListener for Recorder {
        fn on_event(&self, event: Event) {
            if event == Event::SyncStarted {
                panic!("listener bug");
            }
            self.seen.lock().unwrap().push((event, std::thread::current().id()));
        }
    }

    #[test]
    fn events_arrive_in_order_off_thread_and_survive_a_panicking_listener() {
        let recorder = Arc::new(Recorder { seen: Mutex::new(Vec::new()) });
        let bus = EventBus::new(Some(recorder.clone()));
        bus.emit(Event::SessionStarted { expires_at_ms: 1 });
        bus.emit(Event::SyncStarted);
        bus.emit(Event::SessionEnded { reason: "x".into() });
        bus.close();
        bus.emit(Event::SyncStarted); // after close: ignored, no panic
        let seen = recorder.seen.lock().unwrap();
        let events: Vec<_> = seen.iter().map(|(e, _)| e.clone()).collect();
        assert_eq!(events, vec![Event::SessionStarted { expires_at_ms: 1 }, Event::SessionEnded { reason: "x".into() }]);
        assert!(seen.iter().all(|(_, t)| *t != std::thread::current().id()));
    }

    #[test]
    fn no_listener_means_no_thread() {
        let bus = EventBus::new(None);
        bus.emit(Event::SyncStarted);
        bus.close();
    }
}
