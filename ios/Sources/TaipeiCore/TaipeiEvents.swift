import TaipeiGlue

/// The core's events as an `AsyncSequence`: pass `listener` to `Client.open`, then
/// `for await event in events.stream { ... }` on any actor (the main actor for UI).
/// The core calls `onEvent` on its own thread; this only buffers (the newest 256).
public final class TaipeiEvents: EventListener, @unchecked Sendable {
    private let buffer: EventBuffer<Event>
    public var stream: AsyncStream<Event> { buffer.stream }

    public init(limit: Int = 256) {
        buffer = EventBuffer(limit: limit)
    }

    public func onEvent(event: Event) {
        buffer.yield(event)
    }

    /// Ends the sequence; call after `Client.shutdown()`.
    public func finish() {
        buffer.finish()
    }
}
