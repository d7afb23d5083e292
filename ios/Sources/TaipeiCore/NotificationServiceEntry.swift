// The Notification Service Extension entry: the app's extension target subclasses
// `TaipeiNotificationService` (setting `appGroup`, `keychainAccessGroup` and `profile`)
// and names it as its `NSExtensionPrincipalClass`. APNs wakes the extension for an alert
// sent with `mutable-content: 1`; the encrypted body rides in the `p` key (base64url),
// the alert text APNs carries is only a placeholder ("New message"). The extension opens
// the profile's store alone through the core's light entry point `pushReceiveLight`
// (decrypt, verify, de-duplicate, route; no client, no network) within the extension's
// 24 MB and 30 s, then shows the core's title and text and sets the badge it counted.
// A repeat, a tickle or a quiet message is not shown; a bad payload leaves the
// placeholder (never the payload) and logs the code.
#if canImport(UserNotifications)
import Foundation
import os
import UserNotifications

open class TaipeiNotificationService: UNNotificationServiceExtension {
    /// The App Group both the app and the extension belong to: the profile lives in its container.
    open var appGroup: String { "group.tw.gov.taipei" }
    /// The keychain access group the app's `KeychainSecretStore` uses, shared with this extension.
    open var keychainAccessGroup: String? { nil }
    /// The profile the app opens its `Client` with.
    open var profile: String { "main" }
    /// The key of the APNs payload holding the encrypted body (the same as Android's data key).
    public static let payloadKey = "p"

    private static let log = os.Logger(subsystem: "tw.gov.taipei", category: "push")
    private var contentHandler: ((UNNotificationContent) -> Void)?
    private var placeholder: UNNotificationContent?

    override open func didReceive(_ request: UNNotificationRequest,
                                  withContentHandler contentHandler: @escaping (UNNotificationContent) -> Void) {
        self.contentHandler = contentHandler
        placeholder = request.content
        guard let content = request.content.mutableCopy() as? UNMutableNotificationContent else {
            return contentHandler(request.content)
        }
        guard let text = request.content.userInfo[Self.payloadKey] as? String,
              let payload = Self.base64URLDecoded(text) else {
            Self.log.warning("push without a readable payload key")
            return contentHandler(request.content)
        }
        guard let container = FileManager.default.containerURL(forSecurityApplicationGroupIdentifier: appGroup) else {
            Self.log.error("no App Group container \(self.appGroup, privacy: .public)")
            return contentHandler(request.content)
        }
        do {
            let received = try pushReceiveLight(
                dataDir: container.path,
                profile: profile,
                secretStore: KeychainSecretStore(accessGroup: keychainAccessGroup),
                payload: payload
            )
            content.badge = NSNumber(value: received.badge)
            if let shown = received.notification {
                content.title = shown.title
                content.body = shown.text
                content.threadIdentifier = shown.kind
                content.userInfo = ["message_id": shown.messageId, "route": shown.route]
            } else {
                // Nothing to show (a repeat, a tickle, quiet hours, data only): an empty
                // content is how an extension withholds the alert. iOS honours that only
                // for an extension with the `com.apple.developer.usernotifications.filtering`
                // entitlement (granted by Apple on request); without it the empty alert
                // may still be shown, so the app's target must carry it.
                content.title = ""
                content.body = ""
                content.sound = nil
            }
            contentHandler(content)
        } catch let error as PushError {
            Self.log.warning("push payload refused: \(String(describing: error), privacy: .public)")
            contentHandler(request.content)
        } catch {
            Self.log.error("push light entry point failed")
            contentHandler(request.content)
        }
    }

    /// The system is about to kill the extension: the placeholder rather than nothing.
    override open func serviceExtensionTimeWillExpire() {
        if let handler = contentHandler, let content = placeholder {
            handler(content)
        }
    }

    static func base64URLDecoded(_ text: String) -> Data? {
        var b64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        b64 += String(repeating: "=", count: (4 - b64.count % 4) % 4)
        return Data(base64Encoded: b64)
    }
}
#endif
