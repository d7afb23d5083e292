// Platform glue only iOS can do: a device key in the Secure Enclave, handed to the
// core as its DeviceSigner. The key never leaves the enclave; the core receives the
// public key and DER signatures (it converts DER to r‖s and verifies each one).
#if canImport(CryptoKit)
import CryptoKit
import Foundation

public final class SecureEnclaveSigner: DeviceSigner, @unchecked Sendable {
    private let key: SecureEnclave.P256.Signing.PrivateKey

    /// `dataRepresentation` is an opaque handle the app keeps in the Keychain to find
    /// the same enclave key again; it is not the private key.
    public init(dataRepresentation: Data? = nil) throws {
        if let data = dataRepresentation {
            key = try SecureEnclave.P256.Signing.PrivateKey(dataRepresentation: data)
        } else {
            key = try SecureEnclave.P256.Signing.PrivateKey()
        }
    }

    public var dataRepresentation: Data { key.dataRepresentation }

    public func publicKey() throws -> Data {
        key.publicKey.x963Representation // 04 ‖ x ‖ y, 65 bytes
    }

    public func sign(message: Data) throws -> Data {
        do {
            return try key.signature(for: message).derRepresentation
        } catch {
            throw PlatformError.Failed(detail: "Secure Enclave signing failed: \(error)")
        }
    }

    public func assurance() -> Assurance { .hardware }
}
#endif
