import CRMDomain
import CRMEventStore
import LMDB

/// A table of one personal text per record — a deal's name, a ticket's subject — kept apart from the
/// record's row so that folds that need no personal data (a stage change, an SLA clock) never read
/// or rewrite it. Each text is sealed under the data key of the event that set it (see
/// ``CRMEventStore/RowCipher``); a log that keeps personal data in plain text stores it as it is.
struct PersonalTexts {
    let database: Database
    /// What a sealed text is bound to, before the record id: `<read model>.<table>|`.
    let context: [UInt8]
    let cipher: RowCipher?

    /// The table `database` of read model `readModel`, named `table`.
    init(_ database: Database, readModel: String, table: String, cipher: RowCipher?) {
        self.database = database
        self.context = Array("\(readModel).\(table)|".utf8)
        self.cipher = cipher
    }

    /// Stores `text` for record `id`, sealed under the data key of `event`; `nil` removes it.
    func put(_ text: String?, of id: String, for event: RecordedEvent, _ txn: Transaction) throws {
        guard let text else {
            _ = try txn.delete(self.database, id)
            return
        }
        let row = Array(text.utf8)
        guard let cipher = self.cipher else { return try txn.put(self.database, id, row) }
        try txn.put(
            self.database, id,
            cipher.seal(row, number: event.personalDataKey, context: self.context + Array(id.utf8))
        )
    }

    /// The text of record `id`; `nil` when it has none, or when its data key is gone (erased).
    func text(of id: String, _ txn: Transaction) throws -> String? {
        guard let stored = try txn.get(self.database, id) else { return nil }
        guard let cipher = self.cipher else { return String(decoding: stored, as: UTF8.self) }
        switch cipher.open(stored, context: self.context + Array(id.utf8)) {
        case .row(let row): return String(decoding: row, as: UTF8.self)
        case .withoutKey, .unavailable: return nil
        case nil: throw ProfileStorageError(message: "stored \(String(decoding: self.context.dropLast(), as: UTF8.self)) of \(id) is not a sealed row")
        }
    }
}
