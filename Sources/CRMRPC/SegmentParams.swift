public import CRMDomain
import CRMEventStore
import CRMJSON
public import CRMParams

extension DefineSegment {
    /// `filter` is checked by ``SegmentFilterJSON`` (`invalid_filter`).
    public init(params: inout Params) throws(Rejection) {
        let segmentID = try params.identifier("segment_id", required: true)!
        guard let name = try CustomerInput.text(&params, "name", limit: CustomerInput.nameLimit) else {
            throw Rejection.missing("name")
        }
        let description = try CustomerInput.text(&params, "description", limit: CustomerInput.longTextLimit)
        let filter = try SegmentFilterJSON.filter(try params.raw("filter", required: true)!)
        try params.finish()
        self.init(
            SegmentDefinition(segmentID: segmentID, version: 1, name: name, description: description, filter: filter))
    }
}

extension RetireSegment {
    public init(params: inout Params) throws(Rejection) {
        let segmentID = try params.identifier("segment_id", required: true)!
        try params.finish()
        self.init(segmentID: segmentID)
    }
}

extension CreateList {
    /// `kind` `manual` takes `customer_ids` (≤ 1000); `snapshot` takes `from_segment` and `as_of`
    /// (an RFC 3339 time, default the command's `at`), its members computed later.
    public init(params: inout Params) throws(Rejection) {
        let listID = try params.identifier("list_id", required: true)!
        guard let name = try CustomerInput.text(&params, "name", limit: CustomerInput.nameLimit) else {
            throw Rejection.missing("name")
        }
        let kind = try params.oneOf("kind", ["manual", "snapshot"], required: true)!
        let ids = try params.customerIDs("customer_ids")
        let segment = try params.identifier("from_segment")
        let asOf = try params.timestamp("as_of")
        try params.finish()
        if kind == "snapshot" {
            guard let segment else { throw Rejection.missing("from_segment") }
            guard ids == nil else {
                throw Rejection.invalid("customer_ids", "a snapshot list takes its members from from_segment")
            }
            self.init(
                listID: listID, name: name, kind: kind,
                source: ListSource(segmentID: segment, version: nil, asOf: asOf ?? -1),
                members: []
            )
        } else {
            guard segment == nil, asOf == nil else {
                throw Rejection.invalid(segment != nil ? "from_segment" : "as_of", "a manual list takes customer_ids")
            }
            self.init(listID: listID, name: name, kind: kind, source: nil, members: ids ?? [])
        }
    }
}

extension AddToList {
    public init(params: inout Params) throws(Rejection) {
        let listID = try params.identifier("list_id", required: true)!
        guard let ids = try params.customerIDs("customer_ids"), !ids.isEmpty else {
            throw Rejection.missing("customer_ids")
        }
        try params.finish()
        self.init(listID: listID, customerIDs: ids)
    }
}

extension RemoveFromList {
    public init(params: inout Params) throws(Rejection) {
        let listID = try params.identifier("list_id", required: true)!
        guard let ids = try params.customerIDs("customer_ids"), !ids.isEmpty else {
            throw Rejection.missing("customer_ids")
        }
        try params.finish()
        self.init(listID: listID, customerIDs: ids)
    }
}

extension Params {
    /// A list of at most ``ListLimits/idsPerCommand`` customer ids.
    mutating func customerIDs(_ key: String) throws(Rejection) -> [String]? {
        guard let ids = try self.strings(key) else { return nil }
        guard ids.count <= ListLimits.idsPerCommand else {
            throw Rejection.invalid(key, "at most \(ListLimits.idsPerCommand) ids per command")
        }
        for (index, id) in ids.enumerated() where !Identifier.isValid(id) {
            throw Rejection.invalid("\(key)[\(index)]", "must match ^[A-Za-z0-9_-]{1,64}$")
        }
        return ids
    }
}
