// The core's SecretStore over the Keychain: each secret a generic password item of
// this app's service, readable after the first unlock (background sync opens the
// profile while the phone is locked) and never synced to iCloud or restored to another
// phone (`ThisDeviceOnly`). Pass an App Group's access group to share the profile's
// data key with a Notification Service Extension.
#if canImport(Security)
import Foundation
import Security

public final class KeychainSecretStore: SecretStore, @unchecked Sendable {
    private let service: String
    private let accessGroup: String?

    public init(service: String = "tw.gov.taipei.secrets", accessGroup: String? = nil) {
        self.service = service
        self.accessGroup = accessGroup
    }

    private func query(_ name: String) -> [String: Any] {
        var q: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: name,
            kSecUseDataProtectionKeychain as String: true,
        ]
        if let group = accessGroup { q[kSecAttrAccessGroup as String] = group }
        return q
    }

    public func get(name: String) throws -> Data? {
        var q = query(name)
        q[kSecReturnData as String] = true
        q[kSecMatchLimit as String] = kSecMatchLimitOne
        var out: CFTypeRef?
        let status = SecItemCopyMatching(q as CFDictionary, &out)
        switch status {
        case errSecSuccess:
            guard let data = out as? Data else { throw PlatformError.Unavailable(detail: "secret \(name) is not data") }
            return data
        case errSecItemNotFound:
            return nil
        case errSecInteractionNotAllowed:
            // Before the first unlock after a reboot: try again later, the item is intact.
            throw PlatformError.Unavailable(detail: "the keychain is locked until the first unlock")
        default:
            throw PlatformError.Unavailable(detail: "keychain read of \(name): OSStatus \(status)")
        }
    }

    public func put(name: String, value: Data) throws {
        let attributes: [String: Any] = [
            kSecValueData as String: value,
            kSecAttrAccessible as String: kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly,
        ]
        var status = SecItemUpdate(query(name) as CFDictionary, attributes as CFDictionary)
        if status == errSecItemNotFound {
            status = SecItemAdd(query(name).merging(attributes) { $1 } as CFDictionary, nil)
        }
        guard status == errSecSuccess else { throw PlatformError.Failed(detail: "keychain write of \(name): OSStatus \(status)") }
    }

    public func delete(name: String) throws {
        let status = SecItemDelete(query(name) as CFDictionary)
        guard status == errSecSuccess || status == errSecItemNotFound else {
            throw PlatformError.Failed(detail: "keychain delete of \(name): OSStatus \(status)")
        }
    }
}
#endif
