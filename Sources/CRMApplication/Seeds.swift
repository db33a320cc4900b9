import CRMJSON

/// Commands run once, in order, when the daemon starts on an empty log, so a new user can work at
/// once. They are ordinary commands: their events are in the log with the daemon's own uid as actor.
/// ``CoreConfiguration/seedDefaults`` turns them off.
enum Seeds {
    /// The default sales pipeline `sales` (DOMAIN.md §2.3, EspoCRM's probability map).
    static let defaultPipeline: JSON = [
        "pipeline_id": "sales",
        "name": "Sales",
        "stages": [
            ["id": "prospecting", "name": "Prospecting", "probability": 10, "kind": "open"],
            ["id": "qualification", "name": "Qualification", "probability": 20, "kind": "open"],
            ["id": "proposal", "name": "Proposal", "probability": 50, "kind": "open"],
            ["id": "negotiation", "name": "Negotiation", "probability": 80, "kind": "open"],
            ["id": "won", "name": "Closed Won", "probability": 100, "kind": "won"],
            ["id": "lost", "name": "Closed Lost", "probability": 0, "kind": "lost"],
        ],
        "require_lost_reason": false,
    ]

    /// `(method, params)` pairs.
    static let onEmptyLog: [(method: String, params: JSON)] = [("pipeline.define", Seeds.defaultPipeline)]
}
