public import CRMDomain
public import CRMJSON

extension DetailValue {
    /// The JSON value of the same shape.
    public var json: JSON {
        switch self {
        case .string(let text): .string(text)
        case .int(let number): .int(number)
        case .double(let number): .double(number)
        case .bool(let flag): .bool(flag)
        case .list(let values): .array(values.map(\.json))
        case .fields(let members): .object(members.mapValues(\.json))
        case .null: .null
        }
    }

    /// The detail of the same shape as `json`.
    public init(_ json: JSON) {
        switch json {
        case .null: self = .null
        case .bool(let flag): self = .bool(flag)
        case .int(let number): self = .int(number)
        case .string(let text): self = .string(text)
        case .array(let elements): self = .list(elements.map(DetailValue.init))
        case .object(let members): self = .fields(members.mapValues(DetailValue.init))
        case .double(let number): self = .double(number)
        case .serialized: self = (try? JSON.parse(json.serialized())).map(DetailValue.init) ?? .null
        }
    }
}
