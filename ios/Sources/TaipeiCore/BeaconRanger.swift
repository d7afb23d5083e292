// iBeacon attendance on iOS: CoreLocation ranges the office's beacons (Apple hides
// iBeacon adverts from CoreBluetooth) and each reading goes to the core as its fields
// (`Attendance.feedIbeacon`) with the RSSI and the continuous clock's time. Readings
// reach the core in the order CoreLocation gave them, one at a time, from one task
// (as Android's BeaconScanner feeds from one thread): a task per callback would let a
// later second's sighting overtake an earlier one.
#if canImport(CoreLocation)
import CoreLocation
import Foundation
import TaipeiGlue

public final class BeaconRanger: NSObject, CLLocationManagerDelegate, @unchecked Sendable {
    private let attendance: Attendance
    private let manager: CLLocationManager
    private let clock = ContinuousElapsedClock()
    private let onPunch: (PunchRecord) -> Void
    private let onError: (Error) -> Void
    /// Sightings waiting for the core, in order; past 256 unread the oldest go (the
    /// core judges presence from recent ones), so the main thread never waits.
    private let sightings = EventBuffer<(BeaconFields, Int64)>(limit: 256)
    private var feeder: Task<Void, Never>?

    /// Needs "Always" location permission for background ranging; ask before `start`.
    public init(attendance: Attendance, manager: CLLocationManager = CLLocationManager(),
                onPunch: @escaping (PunchRecord) -> Void = { _ in },
                onError: @escaping (Error) -> Void = { _ in }) {
        self.attendance = attendance
        self.manager = manager
        self.onPunch = onPunch
        self.onError = onError
        super.init()
        manager.delegate = self
        // Locals, not self: a task holding self would keep the ranger alive for ever.
        let (stream, attendance, onPunch, onError) = (sightings.stream, attendance, onPunch, onError)
        feeder = Task {
            for await (b, at) in stream {
                do {
                    // CoreLocation does not report the advert's measured power: the core
                    // uses the RSSI alone, so any calibrated value does; -59 is Apple's default.
                    if let punch = try await attendance.feedIbeacon(uuid: b.uuid, major: b.major, minor: b.minor,
                                                                    measuredPower: -59, rssi: b.rssi, atMs: at) {
                        onPunch(punch)
                    }
                } catch {
                    onError(error)
                }
            }
        }
    }

    deinit {
        sightings.finish()
        feeder?.cancel()
    }

    /// Monitors each office UUID (entering wakes the app in the background) and ranges it.
    public func start(uuids: [UUID]) {
        for uuid in uuids {
            let constraint = CLBeaconIdentityConstraint(uuid: uuid)
            manager.startMonitoring(for: CLBeaconRegion(beaconIdentityConstraint: constraint, identifier: uuid.uuidString))
            manager.startRangingBeacons(satisfying: constraint)
        }
    }

    public func stop() {
        for region in manager.monitoredRegions { manager.stopMonitoring(for: region) }
        for constraint in manager.rangedBeaconConstraints { manager.stopRangingBeacons(satisfying: constraint) }
    }

    public func locationManager(_ manager: CLLocationManager, didRange beacons: [CLBeacon],
                                satisfying constraint: CLBeaconIdentityConstraint) {
        let at = Int64(clock.elapsedMs())
        for beacon in beacons {
            if let fields = BeaconFields(uuid: beacon.uuid.uuidString, major: beacon.major.intValue,
                                         minor: beacon.minor.intValue, rssi: beacon.rssi) {
                sightings.yield((fields, at))
            }
        }
    }

    /// After iOS relaunches the app in the background for a region entry, monitoring
    /// reports the state again: inside an office, range it (the new process's `start`
    /// may not have run yet).
    public func locationManager(_ manager: CLLocationManager, didDetermineState state: CLRegionState, for region: CLRegion) {
        guard state == .inside, let region = region as? CLBeaconRegion else { return }
        manager.startRangingBeacons(satisfying: region.beaconIdentityConstraint)
    }

    public func locationManager(_ manager: CLLocationManager, didFailRangingFor constraint: CLBeaconIdentityConstraint, error: Error) {
        onError(error)
    }
}
#endif
