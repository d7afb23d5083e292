// PLACEHOLDER until the core's push capability is on main: the Notification Service
// Extension entry. What it will do, so the app's extension target can be set up now:
// open the profile from the App Group container (`containerURL(forAppGroup:)`) with a
// `KeychainSecretStore` of the shared access group, hand the encrypted payload to the
// push capability's light entry point (decrypt and route, no background sync, within
// the extension's 24 MB and 30 s), and put the result in the notification. Today it
// leaves the notification as the server sent it.
#if canImport(UserNotifications)
import Foundation
import UserNotifications

open class TaipeiNotificationService: UNNotificationServiceExtension {
    /// The App Group both the app and the extension belong to.
    open var appGroup: String { "group.tw.gov.taipei" }

    override open func didReceive(_ request: UNNotificationRequest,
                                  withContentHandler contentHandler: @escaping (UNNotificationContent) -> Void) {
        contentHandler(request.content)
    }
}
#endif
