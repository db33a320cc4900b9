import CRMDomain
import CRMEventStore
import LMDB

/// A table of one personal text per record — a deal's name, a ticket's subject — kept apart from the
/// record's row so that folds that need no personal data (a stage change, an SLA clock) never read
/// or rewrite it. Each text is sealed under the data key of the event that set it (see
/// ``CRMEventStore/RowCipher``); a log that keeps personal data in plain text stores it as it is.
///
/// With a cipher, a text row is `subject key id ‖ 0x00 ‖ sealed text`, and a second table indexes the
/// texts by subject (`subject key id ‖ 0x00 ‖ record id` → empty), so that an erasure removes every
/// text sealed under the keys it destroys (``erase(subjects:_:)``). A text whose key is already gone
/// when it is folded (a rebuild after an erasure) is not stored, so a rebuild ends with the same rows
/// as the live tables.
struct PersonalTexts {
    let texts: Database
    let bySubject: Database
    /// What a sealed text is bound to, before the record id: `<read model>.<table>|`.
    let context: [UInt8]
    let cipher: RowCipher?

    /// The tables `texts` and `bySubject` of read model `readModel`, the first named `table`.
    init(_ texts: Database, bySubject: Database, readModel: String, table: String, cipher: RowCipher?) {
        self.texts = texts
        self.bySubject = bySubject
        self.context = Array("\(readModel).\(table)|".utf8)
        self.cipher = cipher
    }

    /// Both tables.
    var databases: [Database] { [self.texts, self.bySubject] }

    /// Stores `text` for record `id`, sealed under the data key of `event`; `nil` removes it.
    func put(_ text: String?, of id: String, for event: RecordedEvent, _ txn: Transaction) throws {
        guard let cipher = self.cipher else {
            guard let text else { return try self.remove(id, txn) }
            return try txn.put(self.texts, id, Array(text.utf8))
        }
        try self.remove(id, txn)
        guard let text, let seal = event.personalData, cipher.hasKey(seal.key) else { return }
        let subject = Array(seal.subject.utf8) + [0]
        let sealed = cipher.seal(Array(text.utf8), number: seal.key, context: self.context + Array(id.utf8))
        try txn.put(self.texts, id, subject + sealed)
        try txn.put(self.bySubject, subject + Array(id.utf8), [UInt8]())
    }

    /// Removes the text of record `id` and its index row.
    private func remove(_ id: String, _ txn: Transaction) throws {
        guard let stored = try txn.get(self.texts, id) else { return }
        if self.cipher != nil, let end = stored.firstIndex(of: 0) {
            _ = try txn.delete(self.bySubject, Array(stored[...end]) + Array(id.utf8))
        }
        _ = try txn.delete(self.texts, id)
    }

    /// Removes every text sealed under the keys of `subjects` (an erasure destroys them).
    func erase(subjects: [String], _ txn: Transaction) throws {
        guard self.cipher != nil else { return }
        for subject in subjects {
            let prefix = Array(subject.utf8) + [0]
            let ids = try txn.withCursor(self.bySubject) { cursor -> [[UInt8]] in
                var ids: [[UInt8]] = []
                var entry = try cursor.seek(atOrAfter: prefix)
                while let found = entry, found.key.starts(with: prefix) {
                    ids.append(Array(found.key.dropFirst(prefix.count)))
                    entry = try cursor.next()
                }
                return ids
            }
            for id in ids {
                _ = try txn.delete(self.texts, id)
                _ = try txn.delete(self.bySubject, prefix + id)
            }
        }
    }

    /// The text of record `id`; `nil` when it has none, or when its data key is gone (erased).
    func text(of id: String, _ txn: Transaction) throws -> String? {
        guard let stored = try txn.get(self.texts, id) else { return nil }
        guard let cipher = self.cipher else { return String(decoding: stored, as: UTF8.self) }
        guard let end = stored.firstIndex(of: 0) else { throw self.damaged(id) }
        switch cipher.open(Array(stored[(end + 1)...]), context: self.context + Array(id.utf8)) {
        case .row(let row): return String(decoding: row, as: UTF8.self)
        case .withoutKey, .unavailable: return nil
        case nil: throw self.damaged(id)
        }
    }

    private func damaged(_ id: String) -> ProfileStorageError {
        ProfileStorageError(
            message: "stored \(String(decoding: self.context.dropLast(), as: UTF8.self)) of \(id) is damaged")
    }
}
