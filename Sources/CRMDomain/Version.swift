/// The version of crmd and its tools: `system.ping` reports it, `crmctl --version` and
/// `crmd --version` print it.
public enum CRMVersion {
    /// The version string, e.g. `0.1.0`.
    public static let current = "0.1.0"
}
