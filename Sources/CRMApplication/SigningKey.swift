import CRMEventStore
public import Crypto
import Foundation
import Glibc

/// crmd's Ed25519 key for signing checkpoints: a file outside the data directory, created on first
/// start (like an SSH host key), with its public half beside it as `<file>.pub` for auditors.
///
/// The private file holds the 32-byte seed as hex, mode 0600 in a 0700 directory; the public file
/// holds `crmd-ed25519 <hex>`. Keeping the key off the data directory is what makes a signature
/// worth something: whoever can rewrite `data.mdb` cannot sign.
public enum SigningKey {
    /// Reads the key at `path`, or creates it (and its directory) when there is no file. Refuses a
    /// path inside `dataDirectory`, and a file that does not hold a key.
    public static func loadOrCreate(
        path: String,
        dataDirectory: String
    ) throws -> (key: Curve25519.Signing.PrivateKey, created: Bool) {
        let data = URL(fileURLWithPath: dataDirectory).standardizedFileURL.path
        let file = URL(fileURLWithPath: path).standardizedFileURL.path
        guard !file.hasPrefix(data + "/") else {
            throw StartupError(
                "signing key \(file) is inside the data directory \(data); keep it elsewhere (signing_key), "
                    + "or whoever can change the log could also sign it"
            )
        }
        if let text = try? String(contentsOfFile: file, encoding: .utf8) {
            guard let raw = bytes(hex: text.trimmingCharacters(in: .whitespacesAndNewlines)), raw.count == 32,
                let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw)
            else {
                throw StartupError("signing key \(file) does not hold an Ed25519 key (64 hex digits)")
            }
            try SigningKey.writePublicKeyIfMissing(key, file + ".pub")
            return (key, false)
        }
        guard access(file, F_OK) != 0 else {
            throw StartupError("cannot read signing key \(file): \(String(cString: strerror(errno)))")
        }
        let key = Curve25519.Signing.PrivateKey()
        try PrivateFiles.createDirectories(String(file[..<(file.lastIndex(of: "/") ?? file.endIndex)]))
        let descriptor = try PrivateFiles.createFile(file)
        defer { close(descriptor) }
        let text = hexString(Array(key.rawRepresentation)) + "\n"
        guard text.withCString({ write(descriptor, $0, strlen($0)) }) == text.utf8.count, fsync(descriptor) == 0 else {
            throw PrivateFiles.error("cannot write signing key \(file)")
        }
        try SigningKey.writePublicKeyIfMissing(key, file + ".pub")
        return (key, true)
    }

    /// The text of a `.pub` file for `key`.
    public static func publicKeyText(_ key: Curve25519.Signing.PublicKey) -> String {
        "crmd-ed25519 " + hexString(Array(key.rawRepresentation)) + "\n"
    }

    private static func writePublicKeyIfMissing(_ key: Curve25519.Signing.PrivateKey, _ path: String) throws {
        guard access(path, F_OK) != 0 else { return }
        do {
            try SigningKey.publicKeyText(key.publicKey).write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw StartupError("cannot write public key \(path): \(error)")
        }
    }
}
