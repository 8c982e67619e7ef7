import CZlib
import Foundation

/// gzip compression through the system zlib.
public enum Gzip {
    public enum Failure: Error, CustomStringConvertible {
        case zlib(function: String, code: Int32)
        case notGzip
        case tooLarge(limit: Int)

        public var description: String {
            switch self {
            case .zlib(let function, let code): "zlib \(function) failed with code \(code)"
            case .notGzip: "data is not gzip-compressed"
            case .tooLarge(let limit): "decompressed data exceeds \(limit) bytes"
            }
        }
    }

    /// `data` as a gzip member (RFC 1952).
    public static func compress(_ data: Data, level: Int32 = 6) throws(Failure) -> Data {
        var stream = z_stream()
        var status = deflateInit2_(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                                   zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else { throw .zlib(function: "deflateInit2", code: status) }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, uLong(data.count))) + 32
        var output = Data(count: bound)
        var input = data
        let produced: Int = input.withUnsafeMutableBytes { inRaw in
            output.withUnsafeMutableBytes { outRaw in
                stream.next_in = inRaw.baseAddress?.assumingMemoryBound(to: Bytef.self)
                stream.avail_in = uInt(inRaw.count)
                stream.next_out = outRaw.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(outRaw.count)
                status = deflate(&stream, Z_FINISH)
                return outRaw.count - Int(stream.avail_out)
            }
        }
        guard status == Z_STREAM_END else { throw .zlib(function: "deflate", code: status) }
        output.count = produced
        return output
    }

    /// The content of gzip (or zlib) data, refusing more than `limit` bytes.
    public static func decompress(_ data: Data, limit: Int = 1 << 30) throws(Failure) -> Data {
        guard data.count >= 2, data[data.startIndex] == 0x1f, data[data.startIndex + 1] == 0x8b else { throw .notGzip }
        var stream = z_stream()
        var status = inflateInit2_(&stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else { throw .zlib(function: "inflateInit2", code: status) }
        defer { inflateEnd(&stream) }
        var output = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var input = data
        var failure: Failure? = nil
        input.withUnsafeMutableBytes { (inRaw: UnsafeMutableRawBufferPointer) in
            stream.next_in = inRaw.baseAddress?.assumingMemoryBound(to: Bytef.self)
            stream.avail_in = uInt(inRaw.count)
            repeat {
                let produced = chunk.withUnsafeMutableBytes { outRaw in
                    stream.next_out = outRaw.baseAddress!.assumingMemoryBound(to: Bytef.self)
                    stream.avail_out = uInt(outRaw.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    return outRaw.count - Int(stream.avail_out)
                }
                guard status == Z_OK || status == Z_STREAM_END else { failure = .zlib(function: "inflate", code: status); return }
                output.append(contentsOf: chunk[0..<produced])
                guard output.count <= limit else { failure = .tooLarge(limit: limit); return }
                if status == Z_OK && produced == 0 && stream.avail_in == 0 { failure = .zlib(function: "inflate", code: Z_BUF_ERROR); return }
            } while status != Z_STREAM_END
        }
        if let failure { throw failure }
        return output
    }
}
