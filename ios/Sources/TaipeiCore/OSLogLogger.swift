// The core's Logger to the unified log (Console.app, `log stream`), one category per
// core target. Messages are marked public: the core never logs a secret (tokens and
// keys are redacted before formatting), and private lines would read `<private>`.
#if canImport(os)
import os

public final class OSLogLogger: Logger, @unchecked Sendable {
    private let subsystem: String

    public init(subsystem: String = "tw.gov.taipei.core") {
        self.subsystem = subsystem
    }

    public func log(level: LogLevel, target: String, message: String) {
        let log = os.Logger(subsystem: subsystem, category: target)
        switch level {
        case .error: log.error("\(message, privacy: .public)")
        case .warn: log.warning("\(message, privacy: .public)")
        case .info: log.info("\(message, privacy: .public)")
        case .debug, .trace: log.debug("\(message, privacy: .public)")
        }
    }
}
#endif
