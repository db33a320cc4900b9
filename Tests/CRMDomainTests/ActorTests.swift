import CRMDomain
import CRMEventStore
import CRMJSON
import Testing

/// The actor as envelopes show it.
@Suite struct ActorTests {
    @Test(arguments: [
        Actor(uid: 0, gid: 0),
        Actor(uid: 1000, gid: 1001, onBehalfOf: "agent-7"),
        Actor(uid: .max, gid: 42, onBehalfOf: "quote \" and \\ and \n"),
    ])
    func anActorIsWrittenAsItsCanonicalJSON(_ actor: Actor) {
        var out: [UInt8] = []
        actor.write(into: &out)
        #expect(out == actor.json.serialized())
    }
}
