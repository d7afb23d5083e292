package tw.gov.taipei.tests

import tw.gov.taipei.core.ApprovalAction
import tw.gov.taipei.core.ApprovalActionState
import tw.gov.taipei.core.ApprovalException
import tw.gov.taipei.core.ApprovalInboxFilter
import tw.gov.taipei.core.ApprovalKind
import tw.gov.taipei.core.ApprovalRequest
import tw.gov.taipei.core.ReturnTarget
import java.util.Base64

private fun b64(text: String) = Base64.getUrlEncoder().withoutPadding().encodeToString(text.toByteArray())

/** The agency's document system files an item on chain clerk → director; its id. */
private fun Harness.item(subject: String, kind: String = "document"): String {
    val leave = if (kind == "leave") ""","leave":{"leave_type":"特休","from_ms":0,"until_ms":3600000,"hours":8,"cover_user_id":"k-clerk"}""" else ""
    val reply = adminPost(
        "/v1/admin/approval/items",
        """{"kind":"$kind","subject":"$subject","body":"${b64("<p>$subject</p>")}","urgency":"urgent","agency":"資訊局","decision_level":2,"chain":["k-clerk","k-director"]$leave}""",
    )
    return Regex(""""item_id"\s*:\s*"([^"]+)"""").find(reply)?.groupValues?.get(1) ?: throw TestFailure("no item_id: $reply")
}

private fun Harness.people() {
    for ((id, level) in listOf("k-clerk" to 5, "k-director" to 2)) {
        adminPost("/v1/admin/approval/people", """{"user_id":"$id","display_name":"$id","title":"","agency":"資訊局","level":$level}""")
    }
}

private fun request(itemId: String, action: ApprovalAction, opinion: String) =
    ApprovalRequest(itemId = itemId, action = action, opinion = opinion, cosigners = emptyList(), cosignOrder = null, returnTo = null)

/** Mobile approval through the generated bindings, against the real server. */
val approvalTests = listOf(
    test("approvals: list, open, act offline, come online, the receipt settles it") {
        withServer { h ->
            h.people()
            val first = h.item("函轉無線網路擴充計畫")
            val second = h.item("資訊設備採購預算")
            val leave = h.item("李專員特休假", "leave")
            withClient(h.config()) { client ->
                h.bind(client, "k-director", "陳處長")
                val approvals = client.approvals()
                assertEquals(3u, approvals.syncInbox().changed, "changed")
                val page = approvals.inbox(ApprovalInboxFilter())
                assertEquals(2u, page.counts.document, "documents")
                assertEquals(1u, page.counts.leave, "leave requests")
                assertEquals(listOf(ApprovalKind.LEAVE), approvals.inbox(ApprovalInboxFilter(kind = ApprovalKind.LEAVE)).entries.map { it.summary.kind }, "filter")
                val item = approvals.open(first)
                assertEquals("<p>函轉無線網路擴充計畫</p>", String(item.body), "body")
                check(ApprovalAction.APPROVE in item.actions) { "actions: ${item.actions}" }
                val noOpinion = assertThrows<ApprovalException.OpinionRequired>("approve without an opinion") {
                    approvals.act(request(first, ApprovalAction.APPROVE, ""))
                }
                assertEquals("approval_opinion_required", noOpinion.code(), "code")
                val done = approvals.act(request(first, ApprovalAction.APPROVE, "如擬"))
                assertEquals(ApprovalActionState.DONE, done.state, "state")
                approvals.open(second)
                approvals.open(leave)
            }
            // The server out of reach: the inbox and the items read are on the phone.
            withClient(h.config().copy(serverUrl = "http://127.0.0.1:9")) { client ->
                val approvals = client.approvals()
                assertEquals(2, approvals.inbox(ApprovalInboxFilter()).entries.size, "offline inbox")
                val kept = approvals.open(second)
                check(kept.offline) { "not from the kept copy" }
                val back = approvals.act(request(second, ApprovalAction.RETURN, "請補充預算來源").copy(returnTo = ReturnTarget.DRAFTER))
                assertEquals(ApprovalActionState.QUEUED, back.state, "queued offline")
                assertEquals(1u, client.outbox().pending, "in the outbox")
            }
            withClient(h.config()) { client ->
                assertEquals(1u, client.sync().sent, "sent when online")
                val settled = client.approvals().actions(second, 10u).single()
                assertEquals(ApprovalActionState.DONE, settled.state, "settled")
            }
        }
    },
    test("approvals: a conflict keeps the opinion; a batch has a result per item") {
        withServer { h ->
            h.people()
            val edited = h.item("會被修改的公文")
            val batch = (0 until 4).map { h.item("批次公文 $it") }
            withClient(h.config()) { client ->
                h.bind(client, "k-director", "陳處長")
                val approvals = client.approvals()
                approvals.syncInbox()
                for (id in batch + edited) approvals.open(id)
                h.adminPost("/v1/admin/approval/items/$edited/edit", """{"subject":"改過的公文"}""")
                val conflict = approvals.act(request(edited, ApprovalAction.APPROVE, "准"))
                assertEquals(ApprovalActionState.CONFLICT, conflict.state, "conflict")
                assertEquals("approval_version_changed", conflict.code, "conflict code")
                assertEquals("准", conflict.opinion, "opinion kept")
                assertThrows<ApprovalException.ChangedSinceRead>("acting on the old copy") {
                    approvals.act(request(edited, ApprovalAction.APPROVE, "准"))
                }

                h.adminPost("/v1/admin/approval/items/${batch[1]}/edit", """{"subject":"批次中被修改"}""")
                val requests = batch.map { request(it, ApprovalAction.APPROVE, "同意") }.toMutableList()
                requests[3] = request(batch[3], ApprovalAction.FORWARD, "")
                val results = approvals.actBatch(requests)
                assertEquals(batch, results.map { it.itemId }, "one result per item, in order")
                assertEquals(
                    listOf(ApprovalActionState.DONE, ApprovalActionState.CONFLICT, ApprovalActionState.DONE, null),
                    results.map { it.record?.state },
                    "states",
                )
                assertEquals("approval_action_not_allowed", results[3].code, "not queued: why")
                assertThrows<ApprovalException.BatchSize>("an empty batch") { approvals.actBatch(emptyList()) }
            }
        }
    },
)
