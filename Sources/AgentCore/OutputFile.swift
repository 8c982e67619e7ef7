import Foundation

/// Writes results: atomically to a file (a partial file never appears under the
/// final name), or to standard output for "-".
public enum OutputFile {
    public static func write(_ data: Data, to path: String) throws(AgentError) {
        if path == "-" {
            do { try FileHandle.standardOutput.write(contentsOf: data) } catch {
                throw .outputFailed(path: "standard output", reason: "\(error.localizedDescription)")
            }
            return
        }
        do {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            let reason = (error as NSError).userInfo[NSUnderlyingErrorKey].map { "\($0)" } ?? error.localizedDescription
            throw .outputFailed(path: path, reason: reason)
        }
    }
}
