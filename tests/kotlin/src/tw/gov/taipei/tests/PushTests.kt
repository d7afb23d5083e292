package tw.gov.taipei.tests

import java.nio.file.Files
import tw.gov.taipei.core.ClientConfig
import tw.gov.taipei.core.Event
import tw.gov.taipei.core.PushException
import tw.gov.taipei.core.PushOutcome
import tw.gov.taipei.core.PushRoute
import tw.gov.taipei.core.fileSecretStore
import tw.gov.taipei.core.pushReceiveLight
import tw.gov.taipei.core.testPushSender

/**
 * Push from Kotlin: payloads sealed and signed as the server sends them (the test
 * hooks' sender, registered on the profile first) handed over as the OS would.
 */
val pushTests = listOf(
    test("a push payload from Kotlin is routed, counted, de-duplicated; a forged one is refused") {
        val dir = Files.createTempDirectory("taipei-kotlin-push")
        try {
            val dataDir = dir.resolve("phone").toString()
            val secrets = fileSecretStore(dir.resolve("secrets").toString())
            val sender = testPushSender(dataDir, "push", secrets)
            val config = ClientConfig(dataDir = dataDir, profile = "push", serverUrl = "http://127.0.0.1:9", deviceName = "JVM push phone", syncIntervalSecs = 0uL)
            val listener = RecordingListener()
            val first = sender.payload(1uL, "approval_item", "approval/doc-42")
            withClient(config, secrets = secrets, listener = listener) { client ->
                val push = client.push()
                val r = push.receive(first)
                assertEquals(PushOutcome.NEW, r.outcome, "outcome")
                assertEquals(1u, r.badge, "badge")
                assertEquals(PushRoute.ApprovalItem("doc-42"), r.notification?.target, "route")
                assertEquals("Message 1", r.notification?.title, "title")

                val again = push.receive(first)
                assertEquals(PushOutcome.DUPLICATE, again.outcome, "a repeat")
                check(again.notification == null) { "a repeat is not shown again" }
                assertEquals(1u, push.badge(), "badge after the repeat")

                val forged = assertThrows<PushException.Forged>("forged") { push.receive(sender.forged(2uL, "approval_item", "approval/x")) }
                assertEquals("push_forged", forged.code, "code")
                assertThrows<PushException.TooLarge>("oversized") { push.receive(ByteArray(5000)) }
                assertThrows<PushException.Malformed>("junk") { push.receive(ByteArray(40) { 7 }) }
                assertEquals(1, push.inbox(null, false, 10u).size, "nothing stored from bad payloads")

                val id = r.message!!.id
                assertEquals(0u, push.markRead(listOf(id)), "badge after reading")
            }
            check(listener.events.any { it is Event.PushReceived && it.kind == "approval_item" && it.route == "approval/doc-42" && it.shown }) {
                "no PushReceived in ${listener.events}"
            }
            check(Event.BadgeChanged(1u) in listener.events) { "no BadgeChanged(1) in ${listener.events}" }
            check(Event.BadgeChanged(0u) in listener.events) { "no BadgeChanged(0) in ${listener.events}" }

            // The notification service extension's path: no client, the store alone.
            val light = pushReceiveLight(dataDir, "push", secrets, sender.payload(2uL, "meeting_reminder", "meeting/m-7"))
            assertEquals(PushRoute.MeetingReminder("m-7"), light.notification?.target, "light route")
            assertEquals(1u, light.badge, "light badge")
            assertThrows<PushException.Forged>("light forged") { pushReceiveLight(dataDir, "push", secrets, sender.forged(3uL, "meeting_reminder", "meeting/m-8")) }
        } finally {
            dir.toFile().deleteRecursively()
        }
    },
)
