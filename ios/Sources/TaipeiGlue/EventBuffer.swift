// Platform-neutral pieces of the iOS glue: no Apple-only framework and no generated
// code, so `swift test --filter TaipeiGlueTests` runs them on Linux as well as macOS.

/// Turns callbacks from the core's event thread into an `AsyncSequence`. `yield` never
/// blocks the caller (the core's thread); past `limit` unread elements the oldest are
/// dropped, as the Android glue's flow does, so a UI that stops reading never holds
/// the core up nor grows memory without bound.
public final class EventBuffer<Element>: @unchecked Sendable {
    public let stream: AsyncStream<Element>
    private let continuation: AsyncStream<Element>.Continuation

    public init(limit: Int = 256) {
        var made: AsyncStream<Element>.Continuation!
        stream = AsyncStream(bufferingPolicy: .bufferingNewest(max(limit, 1))) { made = $0 }
        continuation = made
    }

    /// Called on the core's thread.
    public func yield(_ element: Element) {
        continuation.yield(element)
    }

    /// Ends the sequence: a `for await` over `stream` finishes after the buffered elements.
    public func finish() {
        continuation.finish()
    }
}

/// The iBeacon fields CoreLocation reports, checked before they reach the core
/// (`Attendance.feedIbeacon`): CoreLocation gives `NSNumber`s and an RSSI of 0 for a
/// beacon it could not measure this second, which must not count as a sighting.
public struct BeaconFields: Equatable, Sendable {
    public let uuid: String
    public let major: UInt16
    public let minor: UInt16
    public let rssi: Int16

    public init?(uuid: String, major: Int, minor: Int, rssi: Int) {
        guard let major = UInt16(exactly: major), let minor = UInt16(exactly: minor),
              rssi < 0, let rssi = Int16(exactly: rssi) else { return nil }
        self.uuid = uuid.lowercased()
        self.major = major
        self.minor = minor
        self.rssi = rssi
    }
}
