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
