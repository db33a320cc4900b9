import CRMApplication
import JetStream
import Testing

/// The relay's subjects and stream checks, and how a replica reads `--replica-of`.
@Suite struct StreamSettingsTests {
    @Test func subjectsNameTheTypeAndTheStreamInTokensNATSAccepts() {
        let relay = RelayConfiguration(url: "nats://127.0.0.1:4222")
        #expect(relay.subject(type: "TicketOpened", stream: "ticket-t1") == "crmd.events.TicketOpened.ticket-t1")
        #expect(relay.subject(type: "A.B", stream: "x y*>") == "crmd.events.A_B.x_y__")
    }

    @Test func aStreamThatMayLoseMessagesIsRefusedWithEveryReason() {
        let relay = RelayConfiguration(url: "nats://127.0.0.1:4222")
        #expect(relay.problems(with: relay.streamSettings).isEmpty)
        var wrong = StreamSettings(name: "CRMD", subjects: ["other.>"])
        wrong.discardNew = false
        wrong.denyDelete = false
        wrong.maxAgeNanos = 1_000_000_000
        wrong.maxMessagesPerSubject = 1
        #expect(
            relay.problems(with: wrong) == [
                "subjects [\"other.>\"] do not include crmd.events.>", "discard is old (must be new)",
                "deleting messages is allowed (must be denied)", "max_age is set (must be unlimited)",
                "max_msgs_per_subject is 1 (must be unlimited)",
            ]
        )
    }

    @Test(arguments: [
        ("nats://10.0.0.5:4222/CRMD", "nats://10.0.0.5:4222", "CRMD"),
        ("nats://a:4222,nats://b:4222/crm_eu-1", "nats://a:4222,nats://b:4222", "crm_eu-1"),
    ])
    func replicaOfNamesServersAndAStream(text: String, url: String, stream: String) {
        let parsed = ReplicaConfiguration.parse(text)
        #expect(parsed?.url == url && parsed?.stream == stream)
    }

    @Test(arguments: ["CRMD", "nats://host:4222", "nats://host:4222/", "http://host/CRMD", "nats://h:1/a.b", "/CRMD"])
    func replicaOfRefusesAnythingElse(text: String) {
        #expect(ReplicaConfiguration.parse(text) == nil)
    }
}
