import Foundation

/// A minimal PNG reader for checking browser screenshots: 8-bit RGB or RGBA,
/// non-interlaced (what Chromium writes). Inflates with the system zlib
/// (`libz.so.1`, loaded at run time so the test target needs no link settings).
public struct PNGImage {
    public var width: Int
    public var height: Int
    /// RGBA, row by row.
    public var pixels: [UInt8]

    struct DecodeError: Error, CustomStringConvertible {
        var description: String
    }

    public init(contentsOf url: URL) throws {
        let bytes = [UInt8](try Data(contentsOf: url))
        guard bytes.count > 8, bytes[0..<8].elementsEqual([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) else {
            throw DecodeError(description: "\(url.path) is not a PNG")
        }
        func be32(_ at: Int) -> Int { bytes[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
        var offset = 8, idat: [UInt8] = []
        var width = 0, height = 0, channels = 0
        while offset + 12 <= bytes.count {
            let length = be32(offset), type = String(decoding: bytes[offset + 4..<offset + 8], as: UTF8.self)
            let body = offset + 8
            guard body + length <= bytes.count else { throw DecodeError(description: "truncated \(type) chunk") }
            switch type {
            case "IHDR":
                width = be32(body)
                height = be32(body + 4)
                let (depth, colour, interlace) = (bytes[body + 8], bytes[body + 9], bytes[body + 12])
                guard depth == 8, colour == 2 || colour == 6, interlace == 0 else {
                    throw DecodeError(description: "unsupported PNG: depth \(depth), colour type \(colour), interlace \(interlace)")
                }
                channels = colour == 6 ? 4 : 3
            case "IDAT":
                idat += bytes[body..<body + length]
            default:
                break
            }
            offset = body + length + 4  // skip the CRC
        }
        guard width > 0, height > 0 else { throw DecodeError(description: "no IHDR") }
        let stride = width * channels
        let raw = try Self.inflate(idat, expectedSize: height * (stride + 1))

        // Undo the per-row filters (PNG spec, section 9).
        var current = [UInt8](repeating: 0, count: stride), previous = current
        var pixels = [UInt8](repeating: 255, count: width * height * 4)
        for y in 0..<height {
            let row = y * (stride + 1), filter = raw[row]
            for x in 0..<stride {
                let a = x >= channels ? Int(current[x - channels]) : 0
                let b = Int(previous[x])
                let c = x >= channels ? Int(previous[x - channels]) : 0
                let predictor: Int
                switch filter {
                case 0: predictor = 0
                case 1: predictor = a
                case 2: predictor = b
                case 3: predictor = (a + b) / 2
                case 4:
                    let p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                    predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c
                default: throw DecodeError(description: "bad filter \(filter) in row \(y)")
                }
                current[x] = raw[row + 1 + x] &+ UInt8(truncatingIfNeeded: predictor)
            }
            for x in 0..<width {
                for channel in 0..<channels { pixels[(y * width + x) * 4 + channel] = current[x * channels + channel] }
            }
            swap(&current, &previous)
        }
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// The pixel at (x, y) as (red, green, blue).
    public func rgb(_ x: Int, _ y: Int) -> (r: Int, g: Int, b: Int) {
        let at = (y * width + x) * 4
        return (Int(pixels[at]), Int(pixels[at + 1]), Int(pixels[at + 2]))
    }

    private typealias Uncompress = @convention(c) (
        UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<UInt>?, UnsafePointer<UInt8>?, UInt
    ) -> Int32

    private static func inflate(_ compressed: [UInt8], expectedSize: Int) throws -> [UInt8] {
        guard let zlib = dlopen("libz.so.1", RTLD_NOW), let symbol = dlsym(zlib, "uncompress") else {
            throw DecodeError(description: "cannot load uncompress from libz.so.1")
        }
        let uncompress = unsafeBitCast(symbol, to: Uncompress.self)
        var output = [UInt8](repeating: 0, count: expectedSize)
        var outputSize = UInt(expectedSize)
        let status = output.withUnsafeMutableBufferPointer { out in
            compressed.withUnsafeBufferPointer { input in
                uncompress(out.baseAddress, &outputSize, input.baseAddress, UInt(input.count))
            }
        }
        guard status == 0, outputSize == UInt(expectedSize) else {
            throw DecodeError(description: "zlib uncompress failed: status \(status), \(outputSize) of \(expectedSize) bytes")
        }
        return output
    }
}
