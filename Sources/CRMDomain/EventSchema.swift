/// Event schema versions.
///
/// Every stored event keeps the schema version it was written with, forever: the hash chain covers
/// those bytes. The event codec at the store boundary upcasts an older stored payload into the
/// current shape of its type (one upcaster per version step) before typing it, so `decide`, the folds
/// and every reader see current events only. Only the log itself (hash checks, `audit.verify`,
/// export) works on events exactly as stored.
///
/// To change the shape of an event type: bump its version here, add the upcaster from the previous
/// version beside the codec, make the typed event and its codec the new shape (see "Changing an
/// event schema" in docs/OPERATIONS.md).
public enum EventSchema {
    /// The current schema version of every type past version 1. Types absent here are at version 1.
    public static let currentVersions: [String: Int] = [
        EventType.activityLogged: 2,
        EventType.consentChanged: 2,
    ]

    /// The schema version that `decide` writes and readers expect for events of `type`.
    public static func currentVersion(of type: String) -> Int {
        EventSchema.currentVersions[type] ?? 1
    }
}
