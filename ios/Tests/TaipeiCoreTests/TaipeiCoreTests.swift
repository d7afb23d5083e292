// Runs with `swift test` wherever a Swift toolchain exists, against a library built by
// `build-xcframework.sh --test-hooks` (the embedded reference server is a test hook).
// The same scenarios as tests/kotlin, from Swift, plus the Swift glue (contract check,
// continuous clock).
import CryptoKit
import Foundation
import XCTest
@testable import TaipeiCore

/// A software P-256 key from CryptoKit; its signatures are DER, as the enclave's are.
final class CryptoKitSigner: DeviceSigner, @unchecked Sendable {
    let key = P256.Signing.PrivateKey()
    func publicKey() throws -> Data { key.publicKey.x963Representation }
    func sign(message: Data) async throws -> Data { try key.signature(for: message).derRepresentation }
    func assurance() -> Assurance { .hardware }
    func attest(challenge: Data) async throws -> KeyAttestation? { nil }
}

final class MemorySecretStore: SecretStore, @unchecked Sendable {
    private let lock = NSLock()
    private var values: [String: Data] = [:]
    var count: Int { lock.withLock { values.count } }
    func get(name: String) throws -> Data? { lock.withLock { values[name] } }
    func put(name: String, value: Data) throws { lock.withLock { values[name] = value } }
    func delete(name: String) throws { lock.withLock { values[name] = nil } }
}

final class RecordingListener: EventListener, @unchecked Sendable {
    private let lock = NSLock()
    private var seen: [Event] = []
    var events: [Event] { lock.withLock { seen } }
    func onEvent(event: Event) { lock.withLock { seen.append(event) } }
}

final class TaipeiCoreTests: XCTestCase {
    var dir: URL!
    var server: TestServer!

    override func setUp() async throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        server = try await startTestServer(dbPath: dir.appendingPathComponent("server.db").path)
    }

    override func tearDown() async throws {
        try await server.shutdown()
        try? FileManager.default.removeItem(at: dir)
    }

    func config(profile: String = "main") -> ClientConfig {
        ClientConfig(dataDir: dir.appendingPathComponent("phone").path, profile: profile,
                     serverUrl: server.baseUrl(), deviceName: "Swift test", syncIntervalSecs: 0)
    }

    /// A credential of `kind` the operator mints for a system; its token.
    func mintCredential(kind: String) async throws -> String {
        var request = URLRequest(url: URL(string: server.baseUrl() + "/v1/admin/credentials")!)
        request.httpMethod = "POST"
        request.setValue("Bearer " + server.adminToken(), forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = try JSONSerialization.data(withJSONObject: ["kind": kind, "name": "Swift test " + kind])
        let (data, _) = try await URLSession.shared.data(for: request)
        let minted = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return try XCTUnwrap(minted?["token"] as? String)
    }

    /// The portal's binding offer, as the city's web portal would request it (with its
    /// own credential: the admin token is refused there).
    func offerBinding(userId: String, displayName: String) async throws -> String {
        let portal = try await mintCredential(kind: "portal")
        var request = URLRequest(url: URL(string: server.baseUrl() + "/v1/portal/bindings")!)
        request.httpMethod = "POST"
        request.setValue("Bearer " + portal, forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue(UUID().uuidString, forHTTPHeaderField: "Idempotency-Key")
        request.httpBody = try JSONSerialization.data(withJSONObject: ["user_id": userId, "display_name": displayName])
        let (data, _) = try await URLSession.shared.data(for: request)
        let offer = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return try XCTUnwrap(offer?["qr"] as? String)
    }

    func testBindSignInMeWithDerSigner() async throws {
        let signer = CryptoKitSigner()
        let client = try await Client.open(config: config(), signer: signer, secretStore: MemorySecretStore(), listener: nil)
        let device = try await client.bindDevice(qrText: try await offerBinding(userId: "u-1", displayName: "林"))
        XCTAssertEqual(device.userId, "u-1")
        XCTAssertEqual(device.publicKey, try signer.publicKey())
        let me = try await client.me()
        XCTAssertEqual(me.deviceId, device.deviceId)
        try await client.shutdown()
    }

    func testGarbageQrIsTypedError() async throws {
        let client = try await Client.open(config: config(), signer: nil, secretStore: nil, listener: nil)
        do {
            _ = try await client.bindDevice(qrText: "not a binding code")
            XCTFail("expected an error")
        } catch let ClientError.Identity(code, _) {
            XCTAssertEqual(code, "bad_binding_code")
        }
        try await client.shutdown()
    }

    func testPanicIsTypedErrorAndLibraryKeepsWorking() async throws {
        do {
            try await debugPanicAsync(message: "boom")
            XCTFail("expected an error")
        } catch let ClientError.Internal(code, detail) {
            XCTAssertEqual(code, "panic")
            XCTAssertTrue(detail.contains("boom"))
        }
        XCTAssertFalse(libraryVersion().isEmpty)
    }

    func testReportSyncAndEvents() async throws {
        let listener = RecordingListener()
        let client = try await Client.open(config: config(), signer: nil, secretStore: nil, listener: listener)
        _ = try await client.bindDevice(qrText: try await offerBinding(userId: "u-2", displayName: "陳"))
        _ = try await client.report(kind: "problem", text: "from Swift")
        let report = try await client.sync()
        XCTAssertEqual(report.sent, 1)
        let onServer = try await client.reports()
        XCTAssertEqual(onServer.map(\.text), ["from Swift"])
        try await client.shutdown()
        XCTAssertTrue(listener.events.contains(.syncFinished(sent: 1, failed: 0, pending: 0, dead: 0)))
    }

    func testCapabilityErrorsCarryCodeAndDetail() async throws {
        let client = try await Client.open(config: config(), signer: nil, secretStore: nil, listener: nil)
        _ = try await client.bindDevice(qrText: try await offerBinding(userId: "u-3", displayName: "王"))
        do {
            _ = try await client.login().scan(qrText: "https://example.com/login")
            XCTFail("expected an error")
        } catch let error as LoginError {
            guard case .NotCityQr = error else { return XCTFail("not NotCityQr: \(error)") }
            XCTAssertEqual(error.code(), "not_city_qr")
            XCTAssertFalse(error.detail().isEmpty)
        }
        do {
            _ = try await client.attendance().punchManually(kind: .in, reason: " ")
            XCTFail("expected an error")
        } catch let error as AttendanceError {
            XCTAssertEqual(error.code(), "attendance_needs_reason")
        }
        try await client.shutdown()
    }

    func testEveryCallAfterShutdownIsClosed() async throws {
        let client = try await Client.open(config: config(), signer: nil, secretStore: nil, listener: nil)
        let wallet = try client.wallet()
        try await client.shutdown()
        XCTAssertThrowsError(try client.device()) { error in
            guard case ClientError.Closed = error else { return XCTFail("not Closed: \(error)") }
        }
        XCTAssertThrowsError(try client.serverNowMs())
        do {
            _ = try await wallet.list(filter: WalletFilter())
            XCTFail("expected Closed")
        } catch let error as WalletError {
            XCTAssertEqual(error.code(), "closed")
        }
    }

    func testReleasingTheClientClosesTheProfile() async throws {
        var client: Client? = try await Client.open(config: config(), signer: nil, secretStore: nil, listener: nil)
        let attendance = try client!.attendance()
        client = nil // deinit: the same end as shutdown()
        do {
            _ = try await attendance.loadWeek(atMs: 0)
            XCTFail("expected Closed")
        } catch AttendanceError.Closed {}
        let again = try await Client.open(config: config(), signer: nil, secretStore: nil, listener: nil)
        try await again.shutdown()
    }

    func testTheLinkedLibraryIsTheBuildTheSwiftWasGeneratedFrom() throws {
        XCTAssertTrue(BindingsContract.generated.hasPrefix("taipei-ffi-contract:"))
        XCTAssertEqual(libraryContract(), BindingsContract.generated)
        XCTAssertNoThrow(try BindingsContract.verify())
    }

    func testTheContinuousClockCountsInMilliseconds() {
        let clock = ContinuousElapsedClock()
        let before = clock.elapsedMs()
        Thread.sleep(forTimeInterval: 0.05)
        let after = clock.elapsedMs()
        XCTAssertGreaterThanOrEqual(after, before + 40)
        XCTAssertLessThan(after, before + 5_000)
    }
}
