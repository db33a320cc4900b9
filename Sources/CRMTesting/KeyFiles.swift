import Foundation

/// The key store and key-encryption key that open a data directory's personal data, copied to
/// another data directory (a restored backup, an imported log), as an operator restores them.
public enum KeyFiles {
    /// Copies `<source>/keys` to `<target>/keys` and the `kek-*.key` files of `<source>-keys` to
    /// `<target>-keys` (the default `kek_dir` of each).
    public static func copy(fromDataDirectory source: String, toDataDirectory target: String) throws {
        let files = FileManager.default
        try files.copyItem(atPath: source + "/keys", toPath: target + "/keys")
        let kekDirectory = target + "-keys"
        try files.createDirectory(atPath: kekDirectory, withIntermediateDirectories: true)
        for name in try files.contentsOfDirectory(atPath: source + "-keys") where name.hasPrefix("kek-") {
            try files.copyItem(atPath: source + "-keys/" + name, toPath: kekDirectory + "/" + name)
        }
    }
}
