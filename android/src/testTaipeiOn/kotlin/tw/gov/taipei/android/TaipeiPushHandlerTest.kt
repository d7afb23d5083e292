package tw.gov.taipei.android

import android.app.Notification
import android.app.NotificationManager
import android.content.Context
import java.io.File
import java.nio.file.Files
import java.util.Base64
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.filter
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf
import tw.gov.taipei.core.ClientConfig
import tw.gov.taipei.core.Event
import tw.gov.taipei.core.PushException
import tw.gov.taipei.core.PushOutcome
import tw.gov.taipei.core.PushRoute
import tw.gov.taipei.core.fileSecretStore
import tw.gov.taipei.core.testPushSender

/**
 * FCM's callbacks as the app's messaging service passes them on: payloads sealed and
 * signed as the server sends them (the test hooks' sender) reach the open client's push
 * capability, or the light entry point when no client is open; what the core decided
 * to show is posted to the NotificationManager with the badge as its number.
 */
@RunWith(RobolectricTestRunner::class)
class TaipeiPushHandlerTest {
    private val context: Context = RuntimeEnvironment.getApplication()
    private val manager = context.getSystemService(NotificationManager::class.java)

    private fun fcmData(payload: ByteArray) = mapOf(TaipeiPushHandler.PAYLOAD_KEY to Base64.getUrlEncoder().withoutPadding().encodeToString(payload), "other" to "x")

    private fun posted(tag: String): Notification? = manager.activeNotifications.firstOrNull { it.tag == tag }?.notification

    @Test
    fun pushServiceRoutesToTheClientThenToTheLightEntryPoint() = runBlocking {
        val dir = Files.createTempDirectory("taipei-android-push").toFile()
        try {
            val config = ClientConfig(dataDir = dir.path, profile = "main", serverUrl = "http://127.0.0.1:9", deviceName = "Robolectric push phone", syncIntervalSecs = 0uL)
            // The secret store the client opens the profile with (openWithFileSecretsForTests).
            val secrets = fileSecretStore(File(dir, "secrets").path)
            val sender = testPushSender(dir.path, "main", secrets)
            var open: TaipeiClient? = null
            val handler = TaipeiPushHandler(context, dir.path, "main", secrets, { open }, smallIcon = android.R.drawable.stat_notify_chat)

            TaipeiClient.openWithFileSecretsForTests(config).use { taipei ->
                open = taipei
                val events = async(Dispatchers.Default, start = CoroutineStart.UNDISPATCHED) {
                    taipei.events.filter { it is Event.PushReceived || it is Event.BadgeChanged }.take(2).toList()
                }
                val first = sender.payload(1uL, "approval_item", "approval/doc-42")
                val delivered = handler.onMessageReceived(fcmData(first)) as PushDelivery.Delivered
                assertEquals(PushOutcome.NEW, delivered.received.outcome)
                assertEquals(PushRoute.ApprovalItem("doc-42"), delivered.received.notification?.target)
                assertEquals(1u, delivered.received.badge)
                val id = delivered.received.message!!.id
                val shown = posted(id)!!
                assertEquals("Message 1", shown.extras.getString(Notification.EXTRA_TITLE))
                assertEquals("A document waits for you", shown.extras.getCharSequence(Notification.EXTRA_TEXT).toString())
                assertEquals(1, shown.number)
                assertEquals(TaipeiPushHandler.CHANNEL_ID, shown.channelId)
                assertTrue(withTimeout(10_000) { events.await() }.containsAll(listOf(Event.PushReceived(id, "approval_item", "approval/doc-42", true), Event.BadgeChanged(1u))))

                // A repeat is taken in once and not shown again.
                val again = handler.onMessageReceived(fcmData(first)) as PushDelivery.Delivered
                assertEquals(PushOutcome.DUPLICATE, again.received.outcome)
                assertNull(again.notificationId)
                assertEquals(1, manager.activeNotifications.size)

                // Bad payloads come back typed, never thrown at FCM's thread, and show nothing.
                val forged = handler.onMessageReceived(fcmData(sender.forged(2uL, "approval_item", "approval/x"))) as PushDelivery.Refused
                assertTrue(forged.error is PushException.Forged)
                assertEquals("push_forged", forged.error.code())
                val junk = handler.onMessageReceived(mapOf(TaipeiPushHandler.PAYLOAD_KEY to "not base64 ***")) as PushDelivery.Refused
                assertTrue(junk.error is PushException.Malformed)
                val oversized = handler.onMessageReceived(fcmData(ByteArray(5000))) as PushDelivery.Refused
                assertTrue(oversized.error is PushException.TooLarge)
                assertEquals(PushDelivery.NotOurs, handler.onMessageReceived(mapOf("from" to "another sdk")))
                assertEquals(1, manager.activeNotifications.size)
                assertEquals(1u, taipei.push.badge())
                open = null
            }

            // The process woke for this message only: the light entry point, the store alone.
            val light = handler.onMessageReceived(fcmData(sender.payload(2uL, "meeting_reminder", "meeting/m-7"))) as PushDelivery.Delivered
            assertEquals(PushRoute.MeetingReminder("m-7"), light.received.notification?.target)
            assertEquals(2u, light.received.badge)
            assertEquals(2, posted(light.received.message!!.id)!!.number)
            val lightForged = handler.onMessageReceived(fcmData(sender.forged(3uL, "meeting_reminder", "meeting/m-8"))) as PushDelivery.Refused
            assertTrue(lightForged.error is PushException.Forged)
            assertEquals(2, shadowOf(manager).allNotifications.size)

            // A token and an overflow signal while no client is open wait for one; offline
            // the registration fails, is logged by code and stays pending.
            handler.onNewToken("fcm-token-1")
            handler.onDeletedMessages()
            TaipeiClient.openWithFileSecretsForTests(config).use { taipei ->
                assertNull(handler.onClientOpened(taipei))
            }
            val prefs = context.getSharedPreferences("taipei-push", Context.MODE_PRIVATE)
            assertEquals("fcm-token-1", prefs.getString("token", null))
            assertTrue("the overflow signal was passed on", !prefs.contains("deleted"))
        } finally {
            dir.deleteRecursively()
        }
    }
}
