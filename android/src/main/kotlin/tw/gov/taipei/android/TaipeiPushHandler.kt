package tw.gov.taipei.android

import android.app.Notification
import android.app.NotificationChannel
import android.app.NotificationManager
import android.app.PendingIntent
import android.content.Context
import android.content.SharedPreferences
import android.util.Log
import java.util.Base64
import kotlinx.coroutines.runBlocking
import tw.gov.taipei.core.PushChannel
import tw.gov.taipei.core.PushException
import tw.gov.taipei.core.PushNotification
import tw.gov.taipei.core.PushReceived
import tw.gov.taipei.core.PushRegistration
import tw.gov.taipei.core.SecretStore
import tw.gov.taipei.core.pushReceiveLight

/**
 * What an app's `FirebaseMessagingService` delegates to, one call per callback, so this
 * library needs no Firebase dependency:
 *
 * ```kotlin
 * class AppMessagingService : FirebaseMessagingService() {
 *     private val taipei by lazy { (application as App).pushHandler }
 *     override fun onNewToken(token: String) = taipei.onNewToken(token)
 *     override fun onMessageReceived(message: RemoteMessage) { taipei.onMessageReceived(message.data) }
 *     override fun onDeletedMessages() = taipei.onDeletedMessages()
 * }
 * ```
 *
 * FCM calls these on a worker thread of its own and gives each message about ten
 * seconds, so they block (never call them on the main thread). A payload goes to the
 * open client's push capability when [openClient] returns one, and otherwise to the
 * core's light entry point, which opens the profile's store alone: the process may have
 * been started for this message only. [secretStore] must be the one the client opens
 * the profile with. Bad payloads never throw out of here (an exception would crash the
 * app's service): they come back as [PushDelivery.Refused] and are logged by code only.
 */
class TaipeiPushHandler(
    private val context: Context,
    private val dataDir: String,
    private val profile: String,
    private val secretStore: SecretStore,
    /** The open client of this process, or null when none is open. */
    private val openClient: () -> TaipeiClient?,
    /** The drawable shown in the status bar. */
    private val smallIcon: Int,
    /** What a tap opens; the app passes [EXTRA_MESSAGE_ID] on to `push.tapped(id)`. */
    private val tapIntent: (PushNotification) -> PendingIntent? = { null },
    private val channelName: CharSequence = "Taipei",
) {
    // A token or an overflow signal that arrives while no client is open waits here for
    // [onClientOpened]: FCM hands each token over once.
    private val pending: SharedPreferences = context.getSharedPreferences(PREFS, Context.MODE_PRIVATE)
    private val notifications = context.getSystemService(NotificationManager::class.java)

    /** FCM's new or rotated token: registered now when a client is open, else on [onClientOpened]. */
    fun onNewToken(token: String) {
        pending.edit().putString(KEY_TOKEN, token).commit()
        openClient()?.let { client -> runBlocking { registerSavedToken(client) } }
    }

    /** FCM dropped messages for this device: the next sync fetches them from the server's log. */
    fun onDeletedMessages() {
        pending.edit().putBoolean(KEY_DELETED, true).commit()
        openClient()?.let { client -> runBlocking { flushDeleted(client) } }
    }

    /**
     * FCM's data payload: [PAYLOAD_KEY] holds the encrypted body as base64url. Shows the
     * notification the core decided on (none for a repeat, a tickle, quiet hours or
     * data only) with the badge as its number.
     */
    fun onMessageReceived(data: Map<String, String>): PushDelivery {
        val text = data[PAYLOAD_KEY] ?: return PushDelivery.NotOurs
        val payload = try {
            Base64.getUrlDecoder().decode(text.trimEnd('='))
        } catch (e: IllegalArgumentException) {
            return refused(PushException.Malformed("push_malformed", "the data payload's '$PAYLOAD_KEY' is not base64url"))
        }
        val received = try {
            val client = openClient()
            if (client != null) runBlocking { client.push.receive(payload) } else pushReceiveLight(dataDir, profile, secretStore, payload)
        } catch (e: PushException) {
            return refused(e)
        }
        val shown = received.notification?.let { show(it, received.badge) }
        return PushDelivery.Delivered(received, shown)
    }

    /**
     * Call once a client is open (and after binding): registers the token FCM gave while
     * none was (the core sends the same token again at most daily) and passes on an
     * overflow signal. A failure (offline, not bound yet) keeps both for the next call.
     */
    suspend fun onClientOpened(client: TaipeiClient): PushRegistration? {
        flushDeleted(client)
        return registerSavedToken(client)
    }

    private suspend fun registerSavedToken(client: TaipeiClient): PushRegistration? {
        val token = pending.getString(KEY_TOKEN, null) ?: return null
        return try {
            client.push.register(PushChannel.FCM, token)
        } catch (e: PushException) {
            Log.w(TAG, "push token not registered yet: ${e.code()}")
            null
        }
    }

    private suspend fun flushDeleted(client: TaipeiClient) {
        if (!pending.getBoolean(KEY_DELETED, false)) return
        try {
            client.push.onDeletedMessages()
            pending.edit().remove(KEY_DELETED).commit()
        } catch (e: PushException) {
            Log.w(TAG, "push overflow not passed on yet: ${e.code()}")
        }
    }

    private fun show(n: PushNotification, badge: UInt): Int {
        if (notifications.getNotificationChannel(CHANNEL_ID) == null) {
            notifications.createNotificationChannel(NotificationChannel(CHANNEL_ID, channelName, NotificationManager.IMPORTANCE_DEFAULT))
        }
        val notification = Notification.Builder(context, CHANNEL_ID)
            .setSmallIcon(smallIcon)
            .setContentTitle(n.title)
            .setContentText(n.text)
            .setStyle(Notification.BigTextStyle().bigText(n.text))
            .setNumber(badge.toInt())
            .setAutoCancel(true)
            .setContentIntent(tapIntent(n))
            .build()
        // One notification per message; the message id as tag keeps repeats in one place.
        notifications.notify(n.messageId, NOTIFICATION_ID, notification)
        return NOTIFICATION_ID
    }

    private fun refused(e: PushException): PushDelivery {
        Log.w(TAG, "push payload refused: ${e.code()}")
        return PushDelivery.Refused(e)
    }

    companion object {
        /** The key of the FCM data payload that carries the encrypted body (base64url). */
        const val PAYLOAD_KEY = "p"
        const val CHANNEL_ID = "taipei-push"
        const val NOTIFICATION_ID = 0x7a1
        /** The extra a tap intent should carry: the message id for `push.tapped`. */
        const val EXTRA_MESSAGE_ID = "tw.gov.taipei.push.MESSAGE_ID"
        private const val TAG = "TaipeiPush"
        private const val PREFS = "taipei-push"
        private const val KEY_TOKEN = "token"
        private const val KEY_DELETED = "deleted"
    }
}

/** What became of one FCM message. */
sealed class PushDelivery {
    /** Taken in; [notificationId] is set when a notification was posted (tag: the message id). */
    data class Delivered(val received: PushReceived, val notificationId: Int?) : PushDelivery()
    /** A bad payload: nothing stored, nothing shown. */
    data class Refused(val error: PushException) : PushDelivery()
    /** A data message without [TaipeiPushHandler.PAYLOAD_KEY]: another SDK's. */
    object NotOurs : PushDelivery()
}
