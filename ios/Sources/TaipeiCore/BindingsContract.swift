import Foundation

/// The generated Swift and the linked Rust library come from different builds: another
/// app build (`taipei-on` / `taipei-pass`), another version, or sources changed since the
/// Swift was generated. `generated` and `library` are contracts as
/// `taipei-ffi-contract:<version>:<build>:<interface>`.
public struct BindingsMismatchError: Error, CustomStringConvertible {
    public let generated: String
    public let library: String
    public let description: String
}

/// Checks that the linked library is the one this Swift was generated from. Call
/// `try BindingsContract.verify()` once at launch, before `Client.open`: a mismatch then
/// fails with a message naming both sides instead of misreading data later.
///
/// `generatedContract` is written next to the generated `TaipeiCore.swift` (in
/// `BindingsContractStamp.swift`) by `scripts/lib/bindings.sh`.
public enum BindingsContract {
    /// The contract of the library this Swift was generated from.
    public static let generated: String = generatedContract

    public static func verify() throws {
        let library = libraryContract()
        guard library == generated else {
            throw BindingsMismatchError(generated: generated, library: library, description: describe(library))
        }
    }

    private static func describe(_ library: String) -> String {
        let g = generated.split(separator: ":").map(String.init)
        let l = library.split(separator: ":").map(String.init)
        guard g.count == 4, l.count == 4 else {
            return "generated bindings \(generated) do not match the linked library \(library): regenerate with ios/build-xcframework.sh"
        }
        let appBuild = g[2].split(separator: "+").first.map(String.init) ?? g[2]
        return "generated bindings \(g[1]) for build \(g[2]) (interface \(g[3])) do not match the linked library "
            + "\(l[1]) (build \(l[2]), interface \(l[3])): regenerate with `scripts/app-bindings \(appBuild)` "
            + "or ios/build-xcframework.sh, or link the library built with these bindings"
    }
}
