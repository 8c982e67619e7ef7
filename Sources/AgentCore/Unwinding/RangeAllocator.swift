/// First-fit allocation of contiguous index ranges in a fixed-size BPF array
/// (rows, pages of the unwind tables); freed ranges merge with their neighbours.
struct RangeAllocator: Sendable {
    let capacity: UInt32
    /// Free ranges, sorted by start, not adjacent.
    private(set) var free: [Range<UInt32>]

    /// Indexes below `reserved` are never handed out.
    init(capacity: UInt32, reserved: UInt32 = 0) {
        self.capacity = capacity
        free = reserved < capacity ? [reserved..<capacity] : []
    }

    /// Indexes not handed out.
    var available: UInt32 { free.reduce(0) { $0 + UInt32($1.count) } }

    /// The start of `count` contiguous free indexes, or nil when no free range is that long.
    mutating func allocate(_ count: UInt32) -> UInt32? {
        guard count > 0 else { return 0 }
        guard let at = free.firstIndex(where: { UInt32($0.count) >= count }) else { return nil }
        let start = free[at].lowerBound
        if UInt32(free[at].count) == count { free.remove(at: at) } else { free[at] = (start + count)..<free[at].upperBound }
        return start
    }

    /// Gives back `count` indexes from `start` (a range `allocate` returned).
    mutating func release(_ start: UInt32, _ count: UInt32) {
        guard count > 0 else { return }
        var range = start..<(start + count)
        let at = free.firstIndex { $0.lowerBound >= range.upperBound } ?? free.count
        var insert = at
        if at < free.count, free[at].lowerBound == range.upperBound {
            range = range.lowerBound..<free[at].upperBound
            free.remove(at: at)
        }
        if insert > 0, free[insert - 1].upperBound == range.lowerBound {
            range = free[insert - 1].lowerBound..<range.upperBound
            free.remove(at: insert - 1)
            insert -= 1
        }
        free.insert(range, at: insert)
    }
}
