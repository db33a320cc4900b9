public import CRMJSON
import CRMDomain
public import Crypto
public import LMDB

/// A signed statement by crmd: "at `signedAt`, the log's head was `position` with hash `hash`".
///
/// The hash chain alone proves only that the log is consistent with itself: whoever can write
/// `data.mdb` can change an event and recompute every later hash. A checkpoint is signed with an
/// Ed25519 key kept outside the data directory, so such an edit no longer matches the hash signed
/// at any later checkpoint, and a checkpoint cannot be forged without the key.
public struct Checkpoint: Sendable, Hashable {
    /// The position signed (the head when the checkpoint was written).
    public var position: UInt64
    /// The hash of the record at `position` (the chain's value there).
    public var hash: [UInt8]
    /// When it was signed, in milliseconds since the epoch.
    public var signedAt: Int64
    /// The raw Ed25519 public key of the signer (32 bytes).
    public var publicKey: [UInt8]
    /// The Ed25519 signature over ``message(position:hash:signedAt:)`` (64 bytes).
    public var signature: [UInt8]

    /// The bytes that are signed: a fixed label, then position, hash and time, big-endian.
    public static func message(position: UInt64, hash: [UInt8], signedAt: Int64) -> [UInt8] {
        var bytes = Array("crmd checkpoint v1\n".utf8)
        bytes.appendBigEndian(position)
        bytes.append(contentsOf: hash)
        bytes.appendBigEndian(UInt64(bitPattern: signedAt))
        return bytes
    }

    /// Signs `head` at `signedAt` with `key`.
    public init(signing head: LogHead, at signedAt: Int64, with key: Curve25519.Signing.PrivateKey) throws {
        self.position = head.seq
        self.hash = head.hash
        self.signedAt = signedAt
        self.publicKey = Array(key.publicKey.rawRepresentation)
        self.signature = Array(
            try key.signature(for: Checkpoint.message(position: head.seq, hash: head.hash, signedAt: signedAt))
        )
    }

    /// Whether the signature is valid and was made by `key`.
    public func isSigned(by key: Curve25519.Signing.PublicKey) -> Bool {
        guard self.publicKey == Array(key.rawRepresentation) else { return false }
        return key.isValidSignature(
            self.signature,
            for: Checkpoint.message(position: self.position, hash: self.hash, signedAt: self.signedAt)
        )
    }

    /// The JSON form, as stored and exported: hashes and keys in lowercase hex.
    public var json: JSON {
        [
            "position": .int(Int64(self.position)), "hash": .string(hexString(self.hash)),
            "signed_at": .string(Timestamp.format(self.signedAt)), "public_key": .string(hexString(self.publicKey)),
            "signature": .string(hexString(self.signature)),
        ]
    }

    /// Reads the JSON form; `nil` when a member is missing or malformed.
    public init?(json: JSON) {
        guard let position = json["position"]?.intValue, position > 0,
            let hash = json["hash"]?.stringValue.flatMap(bytes(hex:)), hash.count == EventRecord.hashSize,
            let time = json["signed_at"]?.stringValue.flatMap(Timestamp.parse),
            let publicKey = json["public_key"]?.stringValue.flatMap(bytes(hex:)), publicKey.count == 32,
            let signature = json["signature"]?.stringValue.flatMap(bytes(hex:)), signature.count == 64
        else { return nil }
        self.position = UInt64(position)
        self.hash = hash
        self.signedAt = time
        self.publicKey = publicKey
        self.signature = signature
    }
}

/// The `checkpoints` database: signed checkpoints keyed by position (big-endian), each stored as
/// its canonical JSON form. It lives beside the log but is not part of the hash chain.
public struct CheckpointTable: Sendable {
    let database: Database

    /// Opens (creating if needed) the table in `environment`.
    public init(environment: Environment) throws {
        self.database = try environment.openDatabase("checkpoints")
    }

    /// Stores `checkpoint`, replacing one at the same position.
    public func put(_ checkpoint: Checkpoint, _ txn: Transaction) throws {
        try txn.put(self.database, [UInt8].bigEndian(checkpoint.position), checkpoint.json.serialized())
    }

    /// The checkpoint with the highest position, if any.
    public func last(_ txn: Transaction) throws -> Checkpoint? {
        var last: Checkpoint?
        try txn.withCursor(self.database) { cursor in
            if let entry = try cursor.seek(atOrBefore: [UInt8].bigEndian(UInt64.max)) {
                last = try CheckpointTable.decode(entry.value)
            }
        }
        return last
    }

    /// Up to `limit` checkpoints with positions in `from...to`, in order.
    public func list(from: UInt64, to: UInt64, limit: Int = Int.max, _ txn: Transaction) throws -> [Checkpoint] {
        var result: [Checkpoint] = []
        guard from <= to else { return result }
        try txn.withCursor(self.database) { cursor in
            var entry = try cursor.seek(atOrAfter: [UInt8].bigEndian(from))
            while let current = entry, readBigEndianUInt64(current.key) <= to, result.count < limit {
                result.append(try CheckpointTable.decode(current.value))
                entry = try cursor.next()
            }
        }
        return result
    }

    static func decode(_ value: UnsafeRawBufferPointer) throws -> Checkpoint {
        guard let json = try? JSON.parse(Array(value)), let checkpoint = Checkpoint(json: json) else {
            throw EventRecordError(message: "a stored checkpoint is malformed")
        }
        return checkpoint
    }
}

/// Checks signed checkpoints against a trusted public key and the hashes the chain has at their
/// positions, and sums the result up the same way for `audit.verify` and for an offline check of
/// an export.
///
/// Only checkpoints signed by the trusted key count as signed. One signed by another key is counted
/// under ``otherKeys`` and proves nothing (anyone can make a key); one that claims the trusted key
/// but whose signature or hash does not match is the first bad one, and no later checkpoint counts.
public struct CheckpointAudit: Sendable {
    /// The key checkpoints must be signed with.
    public let trustedKey: Curve25519.Signing.PublicKey
    /// Checkpoints signed by the trusted key that were checked.
    public private(set) var checked = 0
    /// The highest good checkpoint before any bad one.
    public private(set) var lastGood: Checkpoint?
    /// The first checkpoint that failed, and why.
    public private(set) var firstBad: (position: UInt64, problem: String)?
    /// Checkpoints signed by other keys, by key (hex).
    public private(set) var otherKeys: [String: Int] = [:]

    public init(trustedKey: Curve25519.Signing.PublicKey) { self.trustedKey = trustedKey }

    /// Checks `checkpoint`, given the hash the verified chain has at its position (`nil` when the
    /// chain could not be verified that far).
    public mutating func check(_ checkpoint: Checkpoint, chainHash: [UInt8]?) {
        guard checkpoint.publicKey == Array(self.trustedKey.rawRepresentation) else {
            self.otherKeys[hexString(checkpoint.publicKey), default: 0] += 1
            return
        }
        guard self.firstBad == nil else { return }
        self.checked += 1
        if !checkpoint.isSigned(by: self.trustedKey) {
            self.firstBad = (checkpoint.position, "the signature does not verify: the checkpoint was altered or forged")
        } else if let chainHash, chainHash != checkpoint.hash {
            self.firstBad = (
                checkpoint.position,
                "the log's hash at this position differs from the signed one: events up to it were changed"
            )
        } else if chainHash != nil {
            self.lastGood = checkpoint
        }
    }

    /// The `signatures` member of a verification report; `to` is the last position verified.
    public func json(to: UInt64) -> JSON {
        let lastPosition = self.lastGood?.position ?? 0
        return [
            "ok": .bool(self.firstBad == nil),
            "public_key": .string(hexString(Array(self.trustedKey.rawRepresentation))),
            "checked": .int(Int64(self.checked)),
            "last_signed_position": .int(Int64(lastPosition)),
            "last_signed_at": self.lastGood.map { .string(Timestamp.format($0.signedAt)) } ?? .null,
            "unsigned_after": .int(Int64(to > lastPosition ? to - lastPosition : 0)),
            "first_bad": self.firstBad.map { bad -> JSON in
                ["position": .int(Int64(bad.position)), "problem": .string(bad.problem)]
            } ?? .null,
            "other_keys": .object(self.otherKeys.mapValues { .int(Int64($0)) }),
        ]
    }
}

/// An Ed25519 public key read from the text of a `.pub` file crmd wrote (`crmd-ed25519 <hex>`) or
/// from bare hex; `nil` when there is none.
public func signingPublicKey(text: String) -> Curve25519.Signing.PublicKey? {
    guard let last = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).last,
        let raw = bytes(hex: String(last).lowercased()), raw.count == 32
    else { return nil }
    return try? Curve25519.Signing.PublicKey(rawRepresentation: raw)
}
