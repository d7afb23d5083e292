// iBeacon attendance on iOS: CoreLocation ranges the office's beacons (Apple hides
// iBeacon adverts from CoreBluetooth) and each reading goes to the core as its fields
// (`Attendance.feedIbeacon`) with the RSSI and the continuous clock's time.
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
        let readings = beacons.compactMap {
            BeaconFields(uuid: $0.uuid.uuidString, major: $0.major.intValue, minor: $0.minor.intValue, rssi: $0.rssi)
        }
        Task {
            for b in readings {
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

    public func locationManager(_ manager: CLLocationManager, didFailRangingFor constraint: CLBeaconIdentityConstraint, error: Error) {
        onError(error)
    }
}
#endif
