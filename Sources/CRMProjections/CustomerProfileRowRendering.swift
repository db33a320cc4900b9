import CRMDomain
import CRMJSON

/// Renders the profile document straight from a customer's stored rows (``CustomerProfile/encoded()``,
/// its plain and personal rows, followed by ``ProfileStats/encoded()``, joined in one buffer), reading
/// them in place: `customer.get` and `customer.find` build no ``CustomerProfile``, strings, arrays or
/// dictionaries for it.
/// ``CustomerProfile/rendered(_:)`` renders its own rows this way too, so there is one renderer of the
/// document.
///
/// Dictionary members (`custom`, `deals`, `stats.activity_counts`, `stats.won_amount`) come out in
/// UTF-8 key order whatever order the row holds them in; strings are written as
/// ``CRMJSON/JSON/writeString(_:into:)`` writes them once decoded (invalid UTF-8 repaired).
enum ProfileRowRenderer {
    /// The profile document of `row`, a profile row followed by its stats row; throws ``RowFault`` for
    /// rows that are not a whole profile row and a whole stats row (decode them with
    /// ``CustomerProfile/init(decoding:personal:what:)`` and ``ProfileStats/init(decoding:what:)`` for the
    /// storage error), or whose dictionaries repeat a key.
    ///
    /// With `personalUnavailable` (the personal row could not be opened: an empty one stands in) the
    /// document says so in `pii_unavailable: true`.
    ///
    /// With `blocks`, the document carries `feedback` and `value` from other read models (`customer.get`);
    /// without, it has no `feedback` and `value` is `null`.
    static func render(
        _ row: UnsafeRawBufferPointer,
        personalUnavailable: Bool = false,
        blocks: ProfileBlocks? = nil
    ) throws(RowFault) -> [UInt8] {
        var cursor = RowCursor(row)
        let index = try RowIndex(&cursor)
        var writer = DocumentWriter(row: row)
        defer { writer.out.deallocate() }
        try writer.write(index, personalUnavailable: personalUnavailable, blocks: blocks)
        return writer.out.array()
    }

    /// ``render(_:)`` of a profile row and a stats row held in arrays.
    static func render(_ profile: [UInt8], _ stats: [UInt8]) throws(RowFault) -> [UInt8] {
        try (profile + stats).withUnsafeBytes { buffer in
            Result { () throws(RowFault) in try Self.render(buffer) }
        }.get()
    }

    /// Whether the row's `state` is `merged` (`false` for a row too damaged to say).
    static func isMerged(_ row: UnsafeRawBufferPointer) -> Bool {
        var cursor = RowCursor(row)
        guard (try? cursor.byte()) == CustomerProfile.rowFormat, (try? cursor.string()) != nil,
            let state = try? cursor.string()
        else { return false }
        return cursor.equals(state, "merged")
    }
}

/// The members of a `customer.get` profile that other read models give: each a canonical JSON text.
public struct ProfileBlocks: Sendable {
    /// `feedback`: the feedback read model's block, or `null`.
    public var feedback: [UInt8]
    /// `value`: the value read model's block, or `null`.
    public var value: [UInt8]

    public init(feedback: [UInt8], value: [UInt8]) {
        self.feedback = feedback
        self.value = value
    }
}

/// A profile row that cannot be rendered: damaged, or with a dictionary key twice.
struct RowFault: Error {}

/// Reads the encoding of ``CRMDomain/BinaryRowWriter`` in place; where it lies in the row is an offset.
struct RowCursor {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    @inline(__always)
    mutating func byte() throws(RowFault) -> UInt8 {
        guard self.offset < self.bytes.count else { throw RowFault() }
        defer { self.offset += 1 }
        return self.bytes[self.offset]
    }

    @inline(__always)
    mutating func bool() throws(RowFault) -> Bool { try self.byte() != 0 }

    /// An unsigned LEB128 varint, with ``CRMDomain/BinaryRowReader``'s limits.
    @inline(__always)
    mutating func varint() throws(RowFault) -> UInt64 {
        // Most are one byte: counts, lengths, flags.
        if self.offset < self.bytes.count, self.bytes[self.offset] < 0x80 {
            defer { self.offset += 1 }
            return UInt64(self.bytes[self.offset])
        }
        var value: UInt64 = 0
        var shift = 0
        while true {
            let byte = try self.byte()
            guard shift < 64 else { throw RowFault() }
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
    }

    @inline(__always)
    mutating func count() throws(RowFault) -> Int {
        let value = try self.varint()
        guard value <= UInt64(self.bytes.count - self.offset) else { throw RowFault() }
        return Int(value)
    }

    @inline(__always)
    mutating func int() throws(RowFault) -> Int64 {
        let raw = try self.varint()
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// Where a string's UTF-8 bytes lie.
    @inline(__always)
    mutating func string() throws(RowFault) -> Range<Int> {
        let count = try self.count()
        defer { self.offset += count }
        return self.offset..<(self.offset + count)
    }

    @inline(__always)
    mutating func optionalString() throws(RowFault) -> Range<Int>? {
        try self.bool() ? try self.string() : nil
    }

    @inline(__always)
    mutating func optionalInt() throws(RowFault) -> Int64? {
        try self.bool() ? try self.int() : nil
    }

    /// Moves past a string list, returning where it starts (at its count).
    mutating func skipStrings() throws(RowFault) -> Int {
        let start = self.offset
        for _ in 0..<(try self.count()) { _ = try self.string() }
        return start
    }

    /// Whether the bytes at `range` are `text`.
    func equals(_ range: Range<Int>, _ text: StaticString) -> Bool {
        guard range.count == text.utf8CodeUnitCount else { return false }
        for (offset, byte) in zip(range, UnsafeBufferPointer(start: text.utf8Start, count: range.count))
        where self.bytes[offset] != byte {
            return false
        }
        return true
    }

    /// An optional amount of money in 10⁻⁸ units (``CustomerProfile``'s row piece).
    mutating func money() throws(RowFault) -> Int128? {
        guard try self.bool() else { return nil }
        let high = try self.int()
        let low = try self.varint()
        return Int128(high) << 64 | Int128(low)
    }

    /// Whether the bytes at `a` sort strictly before those at `b`.
    func precedes(_ a: Range<Int>, _ b: Range<Int>) -> Bool {
        for (left, right) in zip(a, b) where self.bytes[left] != self.bytes[right] {
            return self.bytes[left] < self.bytes[right]
        }
        return a.count < b.count
    }
}

/// Where the members of a profile row lie (offsets of the lists, which are read again when written)
/// and its scalar values, after one pass that checks the whole row.
private struct RowIndex {
    var customerID: Range<Int>
    var state: Range<Int>
    var mergedInto: Range<Int>?
    var mergedFrom: Int
    var version: UInt64
    var createdAt: Int64
    var updatedAt: Int64
    var firstName: Range<Int>?
    var lastName: Range<Int>?
    var emails: Int
    var phones: Int
    var doNotCall: Bool
    var companyName: Range<Int>?
    var jobTitle: Range<Int>?
    var address: Int
    var ownerID: Range<Int>?
    var tags: Int
    var tier: Range<Int>?
    var source: Range<Int>?
    var lifecycleStage: Range<Int>
    var lifecycleEnteredAt: Int64
    var history: Int
    var leadStatus: Range<Int>?
    var custom: Int
    /// Where the entries start in key order, when the row holds them in another (see ``keyOrder(_:_:)``).
    var customOrder: [Int]?
    var openTickets: Int64
    var ticketsTotal: Int64
    var lastActivityAt: Int64?
    var lastContactedAt: Int64?
    var activityCounts: Int
    var activityOrder: [Int]?
    /// Where the deal list starts (at its count), when the profile has one.
    var deals: Int?
    var dealOrder: [Int]?
    var openDeals: Int64 = 0
    var wonDeals: Int64 = 0
    /// The currency and amount of each won deal that has both.
    var wonAmounts: [(currency: Range<Int>, units: Int128)] = []

    /// Reads the whole rows (the layout of ``CustomerProfile/encodedPlain()``, then
    /// ``CustomerProfile/encodedPersonal()``, then ``ProfileStats/encoded()``); throws for rows cut
    /// short, with bytes left over, of another format or with a dictionary key twice.
    init(_ row: inout RowCursor) throws(RowFault) {
        guard try row.byte() == CustomerProfile.rowFormat else { throw RowFault() }
        self.customerID = try row.string()
        self.state = try row.string()
        self.mergedInto = try row.optionalString()
        self.mergedFrom = try row.skipStrings()
        self.version = try row.varint()
        self.createdAt = try row.int()
        self.updatedAt = try row.int()
        self.doNotCall = try row.bool()
        self.ownerID = try row.optionalString()
        self.tags = try row.skipStrings()
        self.tier = try row.optionalString()
        self.source = try row.optionalString()
        self.lifecycleStage = try row.string()
        self.lifecycleEnteredAt = try row.int()
        self.history = row.offset
        for _ in 0..<(try row.count()) {
            _ = try row.string()
            _ = try row.int()
            _ = try row.optionalInt()
        }
        self.leadStatus = try row.optionalString()
        guard try row.byte() == CustomerProfile.personalRowFormat else { throw RowFault() }
        self.firstName = try row.optionalString()
        self.lastName = try row.optionalString()
        self.emails = row.offset
        for _ in 0..<(try row.count()) {
            _ = try row.string()
            _ = try row.byte()
            _ = try row.string()
            _ = try row.optionalInt()
            _ = try row.optionalString()
        }
        self.phones = row.offset
        for _ in 0..<(try row.count()) {
            _ = try row.string()
            _ = try row.string()
            _ = try row.optionalString()
            _ = try row.bool()
            _ = try row.string()
        }
        self.companyName = try row.optionalString()
        self.jobTitle = try row.optionalString()
        self.address = row.offset
        if try row.bool() {
            for _ in 0..<5 { _ = try row.optionalString() }
        }
        self.custom = row.offset
        self.customOrder = try Self.keyOrder(&row, .custom)
        guard try row.byte() == ProfileStats.rowFormat else { throw RowFault() }
        self.openTickets = try row.int()
        self.ticketsTotal = try row.int()
        self.lastActivityAt = try row.optionalInt()
        self.lastContactedAt = try row.optionalInt()
        self.activityCounts = row.offset
        self.activityOrder = try Self.keyOrder(&row, .activityCount)
        if try row.bool() {
            self.deals = row.offset
            self.dealOrder = try Self.keyOrder(&row, .deal)
            // The stats: the deals by kind, and the won amounts to sum by currency.
            var deal = RowCursor(row.bytes)
            deal.offset = self.deals!
            for _ in 0..<(try deal.count()) {
                _ = try deal.string()
                let kind = try deal.string()
                let amount = try deal.money()
                let currency = try deal.optionalString()
                if deal.equals(kind, "open") {
                    self.openDeals += 1
                } else if deal.equals(kind, "won") {
                    self.wonDeals += 1
                    if let amount, let currency { self.wonAmounts.append((currency, amount)) }
                }
            }
        } else {
            self.deals = nil
        }
        guard row.offset == row.bytes.count else { throw RowFault() }
    }

    /// The entries of a dictionary in a row.
    enum Entry {
        /// `custom`: key, kind byte, value.
        case custom
        /// `stats.activity_counts`: key, count.
        case activityCount
        /// `deals`: id, kind, amount, currency.
        case deal

        /// Moves past the entry after its key.
        func skipValue(_ row: inout RowCursor) throws(RowFault) {
            switch self {
            case .custom:
                switch try row.byte() {
                case 0: _ = try row.string()
                case 1: _ = try row.int()
                case 2:
                    guard row.offset + 8 <= row.bytes.count else { throw RowFault() }
                    row.offset += 8
                case 3, 4: break
                default: throw RowFault()
                }
            case .activityCount: _ = try row.int()
            case .deal:
                _ = try row.string()
                _ = try row.money()
                _ = try row.optionalString()
            }
        }
    }

    /// Moves past the dictionary at the cursor; returns `nil` when its keys are in strict UTF-8 order
    /// (it is written as it is), or else where its entries start, in key order. Throws for a key
    /// that comes twice.
    private static func keyOrder(_ row: inout RowCursor, _ entry: Entry) throws(RowFault) -> [Int]? {
        let list = row.offset
        let count = try row.count()
        var previous: Range<Int>?
        var ordered = true
        for _ in 0..<count {
            let key = try row.string()
            if let previous, !row.precedes(previous, key) { ordered = false }
            previous = key
            try entry.skipValue(&row)
        }
        guard !ordered else { return nil }
        var scan = RowCursor(row.bytes)
        scan.offset = list
        var entries: [(key: Range<Int>, start: Int)] = []
        for _ in 0..<(try scan.count()) {
            let start = scan.offset
            entries.append((try scan.string(), start))
            try entry.skipValue(&scan)
        }
        entries.sort { scan.precedes($0.key, $1.key) }
        for (left, right) in zip(entries, entries.dropFirst()) where !scan.precedes(left.key, right.key) {
            throw RowFault()
        }
        return entries.map(\.start)
    }
}

/// A growing byte buffer of its own (no copy-on-write checks per byte, as an array has); the owner
/// deallocates it.
struct OutputBuffer {
    private var base: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    /// Bytes written.
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 64)
        self.base = .allocate(capacity: self.capacity)
    }

    func deallocate() { self.base.deallocate() }

    /// The bytes written, as an array.
    func array() -> [UInt8] { Array(UnsafeBufferPointer(start: self.base, count: self.count)) }

    /// The last byte written.
    var last: UInt8? { self.count > 0 ? self.base[self.count - 1] : nil }

    /// Makes room for `more` bytes.
    @inline(__always)
    mutating func reserve(_ more: Int) {
        guard self.count + more > self.capacity else { return }
        let capacity = max(2 * self.capacity, self.count + more)
        let base = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        base.update(from: self.base, count: self.count)
        self.base.deallocate()
        self.base = base
        self.capacity = capacity
    }

    @inline(__always)
    mutating func append(_ byte: UInt8) {
        self.reserve(1)
        self.base[self.count] = byte
        self.count += 1
    }

    @inline(__always)
    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        self.reserve(bytes.count)
        UnsafeMutableRawPointer(self.base + self.count).copyMemory(from: source, byteCount: bytes.count)
        self.count += bytes.count
    }

    mutating func append(_ bytes: [UInt8]) { bytes.withUnsafeBytes { self.append($0) } }

    /// Appends again the bytes written at `range`.
    mutating func repeatBytes(_ range: Range<Int>) {
        self.reserve(range.count)
        (self.base + self.count).update(from: self.base + range.lowerBound, count: range.count)
        self.count += range.count
    }

    /// Appends the two digits of `value` (below 100).
    @inline(__always)
    mutating func twoDigits(_ value: UInt64) {
        self.reserve(2)
        self.base[self.count] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value / 10)
        self.base[self.count + 1] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value % 10)
        self.count += 2
    }

    /// Appends `value`'s decimal digits, zero-padded to at least `width`.
    mutating func digits(_ value: UInt64, width: Int = 1) {
        var length = 1
        var probe = value
        while probe >= 10 {
            probe /= 10
            length += 1
        }
        length = max(length, width)
        self.reserve(length)
        var rest = value
        for position in stride(from: self.count + length - 1, through: self.count, by: -1) {
            self.base[position] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest % 10)
            rest /= 10
        }
        self.count += length
    }
}

/// Writes the profile document of an indexed row, in canonical member order.
private struct DocumentWriter {
    let row: UnsafeRawBufferPointer
    /// The text so far.
    var out: OutputBuffer
    /// The day of the last time written, and where its date lies in `out` (profiles repeat days).
    private var lastDate: (day: Int64, text: Range<Int>)?

    init(row: UnsafeRawBufferPointer) {
        self.row = row
        // Room for the member names and every string escaped at worst once over.
        self.out = OutputBuffer(capacity: 2 * row.count + 1024)
    }

    @inline(__always)
    mutating func raw(_ text: StaticString) {
        self.out.append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// A string of the row as a JSON string literal, as ``CRMJSON/JSON/writeString(_:into:)`` writes
    /// the decoded string.
    @inline(__always)
    mutating func string(_ range: Range<Int>) {
        let bytes = UnsafeRawBufferPointer(rebasing: self.row[range])
        guard self.isPlain(range) else {
            // Decoded as the slow path decodes it (repairing invalid UTF-8), then escaped.
            var text: [UInt8] = []
            JSON.writeString(String(decoding: bytes, as: UTF8.self), into: &text)
            return self.out.append(text)
        }
        self.out.append(UInt8(ascii: "\""))
        self.out.append(bytes)
        self.out.append(UInt8(ascii: "\""))
    }

    @inline(__always)
    mutating func string(_ range: Range<Int>?) {
        guard let range else { return self.raw("null") }
        self.string(range)
    }

    @inline(__always)
    mutating func bool(_ value: Bool) { self.raw(value ? "true" : "false") }

    @inline(__always)
    mutating func int(_ value: Int64) {
        if value < 0 { self.out.append(UInt8(ascii: "-")) }
        self.out.digits(value.magnitude)
    }

    /// A time as ``CRMDomain/Timestamp/writeQuoted(_:into:)`` writes it (`"YYYY-MM-DDTHH:MM:SS.sssZ"`),
    /// or `null`.
    mutating func time(_ millis: Int64?) {
        guard let millis else { return self.raw("null") }
        // Years 1970 to 9999 here; the others as Timestamp writes them.
        guard millis >= 0, millis < 253_402_300_800_000 else {
            var text: [UInt8] = []
            Timestamp.writeQuoted(millis, into: &text)
            return self.out.append(text)
        }
        let day = millis / 86_400_000
        let ofDay = UInt64(millis % 86_400_000)
        self.out.append(UInt8(ascii: "\""))
        if let last = self.lastDate, last.day == day {
            self.out.repeatBytes(last.text)
        } else {
            let start = self.out.count
            let date = Timestamp.civilFromDays(Int(day))
            self.out.digits(UInt64(date.year), width: 4)
            self.out.append(UInt8(ascii: "-"))
            self.out.twoDigits(UInt64(date.month))
            self.out.append(UInt8(ascii: "-"))
            self.out.twoDigits(UInt64(date.day))
            self.lastDate = (day, start..<self.out.count)
        }
        self.out.append(UInt8(ascii: "T"))
        self.out.twoDigits(ofDay / 3_600_000)
        self.out.append(UInt8(ascii: ":"))
        self.out.twoDigits(ofDay / 60_000 % 60)
        self.out.append(UInt8(ascii: ":"))
        self.out.twoDigits(ofDay / 1000 % 60)
        self.out.append(UInt8(ascii: "."))
        self.out.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: ofDay % 1000 / 100))
        self.out.twoDigits(ofDay % 100)
        self.out.append(UInt8(ascii: "Z"))
        self.out.append(UInt8(ascii: "\""))
    }

    /// The strings of a list starting (at its count) at `offset`, without the brackets.
    mutating func strings(at offset: Int) throws(RowFault) {
        var cursor = RowCursor(self.row)
        cursor.offset = offset
        for index in 0..<(try cursor.count()) {
            if index > 0 { self.raw(",") }
            self.string(try cursor.string())
        }
    }

    /// An amount of money in 10⁻⁸ units, as ``CRMDomain/MoneyAmount``'s canonical string.
    mutating func money(_ units: Int128) {
        self.out.append(UInt8(ascii: "\""))
        if units < 0 { self.out.append(UInt8(ascii: "-")) }
        let magnitude = units.magnitude
        self.digits(magnitude / 100_000_000, count: 1)
        var fraction = magnitude % 100_000_000
        if fraction > 0 {
            var count = 8
            while fraction % 10 == 0 {
                fraction /= 10
                count -= 1
            }
            self.out.append(UInt8(ascii: "."))
            self.digits(fraction, count: count)
        }
        self.out.append(UInt8(ascii: "\""))
    }

    /// The decimal digits of `value`, zero-padded to at least `count` digits.
    private mutating func digits(_ value: UInt128, count: Int) {
        guard value > UInt128(UInt64.max) else { return self.out.digits(UInt64(value), width: count) }
        var text: [UInt8] = []
        var rest = value
        while rest > 0 {
            text.append(UInt8(ascii: "0") + UInt8(rest % 10))
            rest /= 10
        }
        self.out.append(Array(text.reversed()))
    }

    /// Positions `cursor` at entry `entry` of a dictionary whose entries are read in row order
    /// (`order` is `nil`) or start at `order`'s offsets.
    private func seek(_ cursor: inout RowCursor, entry: Int, _ order: [Int]?) {
        if let order { cursor.offset = order[entry] }
    }

    /// `stats.won_amount`: the won amounts summed by currency, in UTF-8 currency order.
    private mutating func wonAmount(_ amounts: [(currency: Range<Int>, units: Int128)]) {
        let cursor = RowCursor(self.row)
        let sorted = amounts.sorted { cursor.precedes($0.currency, $1.currency) }
        self.raw("{")
        var index = 0
        while index < sorted.count {
            let currency = sorted[index].currency
            var sum: Int128 = 0
            while index < sorted.count, !cursor.precedes(currency, sorted[index].currency) {
                sum &+= sorted[index].units
                index += 1
            }
            if self.out.last != UInt8(ascii: "{") { self.raw(",") }
            self.string(currency)
            self.raw(":")
            self.money(sum)
        }
        self.raw("}")
    }

    mutating func write(_ index: RowIndex, personalUnavailable: Bool, blocks: ProfileBlocks?) throws(RowFault) {
        var cursor = RowCursor(self.row)
        self.raw(#"{"address":"#)
        cursor.offset = index.address
        if try cursor.bool() {
            let street = try cursor.optionalString()
            let city = try cursor.optionalString()
            let state = try cursor.optionalString()
            let postalCode = try cursor.optionalString()
            let country = try cursor.optionalString()
            self.raw(#"{"city":"#)
            self.string(city)
            self.raw(#","country":"#)
            self.string(country)
            self.raw(#","postal_code":"#)
            self.string(postalCode)
            self.raw(#","state":"#)
            self.string(state)
            self.raw(#","street":"#)
            self.string(street)
            self.raw("}")
        } else {
            self.raw("null")
        }
        self.raw(#","company_name":"#)
        self.string(index.companyName)
        self.raw(#","created_at":"#)
        self.time(index.createdAt)
        self.raw(#","custom":{"#)
        cursor.offset = index.custom
        for entry in 0..<(try cursor.count()) {
            if entry > 0 { self.raw(",") }
            self.seek(&cursor, entry: entry, index.customOrder)
            self.string(try cursor.string())
            self.raw(":")
            switch try cursor.byte() {
            case 0: self.string(try cursor.string())
            case 1: self.int(try cursor.int())
            case 2:
                var bits: UInt64 = 0
                for byte in 0..<8 { bits |= UInt64(self.row[cursor.offset + byte]) << (8 * UInt64(byte)) }
                cursor.offset += 8
                var text: [UInt8] = []
                JSON.double(Double(bitPattern: bits)).write(into: &text)
                self.out.append(text)
            case 3: self.raw("false")
            default: self.raw("true")
            }
        }
        self.raw(#"},"customer_id":"#)
        self.string(index.customerID)
        if let deals = index.deals {
            self.raw(#","deals":{"#)
            cursor.offset = deals
            for entry in 0..<(try cursor.count()) {
                if entry > 0 { self.raw(",") }
                self.seek(&cursor, entry: entry, index.dealOrder)
                self.string(try cursor.string())
                let kind = try cursor.string()
                self.raw(#":{"amount":"#)
                if let amount = try cursor.money() {
                    self.money(amount)
                } else {
                    self.raw("null")
                }
                self.raw(#","currency":"#)
                self.string(try cursor.optionalString())
                self.raw(#","kind":"#)
                self.string(kind)
                self.raw("}")
            }
            self.raw("}")
        }
        self.raw(#","do_not_call":"#)
        self.bool(index.doNotCall)
        self.raw(#","emails":["#)
        cursor.offset = index.emails
        for entry in 0..<(try cursor.count()) {
            if entry > 0 { self.raw(",") }
            let address = try cursor.string()
            let flags = try cursor.byte()
            self.raw(#"{"address":"#)
            self.string(address)
            self.raw(#","consent":"#)
            self.string(try cursor.string())
            self.raw(#","consent_at":"#)
            self.time(try cursor.optionalInt())
            self.raw(#","invalid":"#)
            self.bool(flags & 4 != 0)
            self.raw(#","legal_basis":"#)
            self.string(try cursor.optionalString())
            self.raw(#","opted_out":"#)
            self.bool(flags & 2 != 0)
            self.raw(#","primary":"#)
            self.bool(flags & 1 != 0)
            self.raw("}")
        }
        self.raw("]")
        if let blocks {
            self.raw(#","feedback":"#)
            self.out.append(blocks.feedback)
        }
        self.raw(#","job_title":"#)
        self.string(index.jobTitle)
        self.raw(#","lead_status":"#)
        self.string(index.leadStatus)
        self.raw(#","lifecycle":{"entered_at":"#)
        self.time(index.lifecycleEnteredAt)
        self.raw(#","history":["#)
        cursor.offset = index.history
        for entry in 0..<(try cursor.count()) {
            if entry > 0 { self.raw(",") }
            let stage = try cursor.string()
            self.raw(#"{"entered_at":"#)
            self.time(try cursor.int())
            self.raw(#","exited_at":"#)
            self.time(try cursor.optionalInt())
            self.raw(#","stage":"#)
            self.string(stage)
            self.raw("}")
        }
        self.raw(#"],"stage":"#)
        self.string(index.lifecycleStage)
        self.raw(#"},"merged_from":["#)
        try self.strings(at: index.mergedFrom)
        self.raw(#"],"merged_into":"#)
        self.string(index.mergedInto)
        self.raw(#","name":{"first":"#)
        self.string(index.firstName)
        self.raw(#","full":"#)
        self.fullName(index.firstName, index.lastName)
        self.raw(#","last":"#)
        self.string(index.lastName)
        self.raw(#"},"owner_id":"#)
        self.string(index.ownerID)
        self.raw(#","phones":["#)
        cursor.offset = index.phones
        for entry in 0..<(try cursor.count()) {
            if entry > 0 { self.raw(",") }
            let number = try cursor.string()
            let normalized = try cursor.string()
            let type = try cursor.optionalString()
            let primary = try cursor.bool()
            self.raw(#"{"consent":"#)
            self.string(try cursor.string())
            self.raw(#","normalized":"#)
            self.string(normalized)
            self.raw(#","number":"#)
            self.string(number)
            self.raw(#","primary":"#)
            self.bool(primary)
            self.raw(#","type":"#)
            self.string(type)
            self.raw("}")
        }
        self.raw("]")
        if personalUnavailable { self.raw(#","pii_unavailable":true"#) }
        self.raw(#","source":"#)
        self.string(index.source)
        self.raw(#","state":"#)
        self.string(index.state)
        self.raw(#","stats":{"activity_counts":{"#)
        cursor.offset = index.activityCounts
        for entry in 0..<(try cursor.count()) {
            if entry > 0 { self.raw(",") }
            self.seek(&cursor, entry: entry, index.activityOrder)
            self.string(try cursor.string())
            self.raw(":")
            self.int(try cursor.int())
        }
        self.raw(#"},"last_activity_at":"#)
        self.time(index.lastActivityAt)
        self.raw(#","last_contacted_at":"#)
        self.time(index.lastContactedAt)
        self.raw(#","open_deals":"#)
        self.int(index.openDeals)
        self.raw(#","open_tickets":"#)
        self.int(index.openTickets)
        self.raw(#","tickets_total":"#)
        self.int(index.ticketsTotal)
        self.raw(#","won_amount":"#)
        self.wonAmount(index.wonAmounts)
        self.raw(#","won_deals":"#)
        self.int(index.wonDeals)
        self.raw(#"},"tags":["#)
        try self.strings(at: index.tags)
        self.raw(#"],"tier":"#)
        self.string(index.tier)
        self.raw(#","updated_at":"#)
        self.time(index.updatedAt)
        self.raw(#","value":"#)
        if let blocks { self.out.append(blocks.value) } else { self.raw("null") }
        self.raw(#","version":"#)
        self.int(Int64(truncatingIfNeeded: index.version))
        self.raw("}")
    }

    /// `name.full`: the non-empty names joined by a space, or `null`.
    private mutating func fullName(_ first: Range<Int>?, _ last: Range<Int>?) {
        let first = first.flatMap { $0.isEmpty ? nil : $0 }
        let last = last.flatMap { $0.isEmpty ? nil : $0 }
        guard let first, let last else { return self.string(first ?? last) }
        guard self.isPlain(first), self.isPlain(last) else {
            let joined =
                String(decoding: UnsafeRawBufferPointer(rebasing: self.row[first]), as: UTF8.self) + " "
                + String(decoding: UnsafeRawBufferPointer(rebasing: self.row[last]), as: UTF8.self)
            var text: [UInt8] = []
            JSON.writeString(joined, into: &text)
            return self.out.append(text)
        }
        self.out.append(UInt8(ascii: "\""))
        self.out.append(UnsafeRawBufferPointer(rebasing: self.row[first]))
        self.out.append(UInt8(ascii: " "))
        self.out.append(UnsafeRawBufferPointer(rebasing: self.row[last]))
        self.out.append(UInt8(ascii: "\""))
    }

    /// Whether the string at `range` is written as it is: ASCII without anything to escape.
    @inline(__always)
    private func isPlain(_ range: Range<Int>) -> Bool {
        for offset in range {
            let byte = self.row[offset]
            // 0x20...0x7F in one comparison, then the two that are escaped.
            if byte &- 0x20 >= 0x60 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { return false }
        }
        return true
    }
}
