// Platform glue only iOS can do: a device key in the Secure Enclave, handed to the
// core as its DeviceSigner. The key never leaves the enclave; the core receives the
// public key and DER signatures (it converts DER to r‖s and verifies each one).
#if canImport(CryptoKit) && canImport(Security)
import CryptoKit
import Foundation
import LocalAuthentication
import Security

public final class SecureEnclaveSigner: DeviceSigner, @unchecked Sendable {
    private let key: SecureEnclave.P256.Signing.PrivateKey

    /// The access control of a new key. `AfterFirstUnlockThisDeviceOnly`: background
    /// sync and beacon punches sign while the phone is locked in a pocket, which a
    /// `WhenUnlocked` key would refuse (the punch would wait for the next unlock and
    /// be stamped late); the key still cannot be used between a reboot and the first
    /// unlock, and never leaves this device (no backup, no migration). Pass
    /// `.userPresence` in `flags` for a key that asks for Face ID / the passcode at
    /// every signature (it then cannot sign in the background).
    public static func accessControl(flags: SecAccessControlCreateFlags = [.privateKeyUsage]) throws -> SecAccessControl {
        var error: Unmanaged<CFError>?
        guard let access = SecAccessControlCreateWithFlags(
            nil, kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly, flags, &error
        ) else {
            throw PlatformError.Unavailable(detail: "Secure Enclave access control: \(String(describing: error?.takeRetainedValue()))")
        }
        return access
    }

    /// `dataRepresentation` is an opaque handle the app keeps in the Keychain
    /// (`KeychainSecretStore`) to find the same enclave key again; it is not the private key.
    public init(dataRepresentation: Data? = nil, flags: SecAccessControlCreateFlags = [.privateKeyUsage]) throws {
        do {
            if let data = dataRepresentation {
                key = try SecureEnclave.P256.Signing.PrivateKey(dataRepresentation: data)
            } else {
                key = try SecureEnclave.P256.Signing.PrivateKey(accessControl: Self.accessControl(flags: flags))
            }
        } catch let error as PlatformError {
            throw error
        } catch {
            throw PlatformError.Unavailable(detail: "Secure Enclave key: \(error)")
        }
    }

    public var dataRepresentation: Data { key.dataRepresentation }

    public func publicKey() throws -> Data {
        key.publicKey.x963Representation // 04 ‖ x ‖ y, 65 bytes
    }

    /// Async in the core's trait: with `.userPresence` the enclave shows Face ID / the
    /// passcode inside `signature(for:)` and blocks until the person answers, so that
    /// wait runs on a task of its own, never on a thread of the core. Dismissing the
    /// prompt is `PlatformError.Cancelled` (the core reports `signer_cancelled`); past
    /// `ClientConfig.signerTimeoutSecs` the core stops waiting (`signer_timeout`).
    public func sign(message: Data) async throws -> Data {
        let key = self.key
        return try await Task.detached(priority: .userInitiated) {
            do {
                return try key.signature(for: message).derRepresentation
            } catch let error as LAError where error.code == .userCancel || error.code == .appCancel || error.code == .systemCancel {
                throw PlatformError.Cancelled(detail: "the person dismissed the Secure Enclave prompt (\(error.code.rawValue))")
            } catch {
                throw PlatformError.Failed(detail: "Secure Enclave signing failed: \(error)")
            }
        }.value
    }

    public func assurance() -> Assurance { .hardware }

    /// The Secure Enclave issues no certificate chain for its keys. Apple's attestation
    /// is App Attest (DCAppAttestService), which attests the app's own App Attest key
    /// over a client-data hash of the binding message — a message that holds this key,
    /// so it cannot be made in this call, which comes before the key is read. The
    /// server accepts `apple-appattest:` statements; the core does not send one yet,
    /// so an iPhone binds with its claim (`assurance_basis = claimed`).
    public func attest(challenge: Data) async throws -> KeyAttestation? { nil }
}
#endif
