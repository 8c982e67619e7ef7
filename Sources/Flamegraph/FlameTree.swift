/// Stacks merged into a call tree: stacks with identical prefixes share nodes.
///
/// Node 0 is the synthetic root ("all"); a node's `total` is the samples of every
/// stack passing through it, and its self samples are `total` minus its children's.
/// Frames with the same name but a different kernel flag are different nodes.
struct FlameTree: Sendable {
    /// What a node stands for; the raw value is what the page's JSON carries.
    enum Kind: Int, Sendable {
        case user = 0, kernel = 1
        /// Small siblings merged by `pruned(maxNodes:)`.
        case merged = 2
        case root = 3
        /// A Python function.
        case python = 4
    }

    struct Node: Sendable, Equatable {
        var name: Int32
        var kind: Kind
        var total: Int64
        var children: [Int32] = []
    }

    /// The string table; node names index into it.
    private(set) var names: [String] = ["all"]
    private(set) var nodes: [Node] = [Node(name: 0, kind: .root, total: 0)]

    /// Samples in the whole profile.
    var total: Int64 { nodes[0].total }

    /// Merges `stacks` (stacks with a count of zero or less are ignored).
    init(stacks: [FlameStack]) {
        var nameIndex: [String: Int32] = ["all": 0]
        // (parent << 32 | name << 3 | kind) -> child node.
        var childIndex: [UInt64: Int32] = [:]
        for stack in stacks where stack.count > 0 {
            nodes[0].total += stack.count
            var parent: Int32 = 0
            for (depth, frame) in stack.frames.enumerated() {
                let kind = stack.kind(depth)
                let name: Int32
                if let known = nameIndex[frame] {
                    name = known
                } else {
                    name = Int32(names.count)
                    names.append(frame)
                    nameIndex[frame] = name
                }
                let key = UInt64(UInt32(parent)) << 32 | UInt64(UInt32(name)) << 3 | UInt64(kind.rawValue)
                let child: Int32
                if let existing = childIndex[key] {
                    child = existing
                } else {
                    child = Int32(nodes.count)
                    nodes.append(Node(name: name, kind: kind, total: 0))
                    nodes[Int(parent)].children.append(child)
                    childIndex[key] = child
                }
                nodes[Int(child)].total += stack.count
                parent = child
            }
        }
        sortChildren()
    }

    private init(names: [String], nodes: [Node]) {
        self.names = names
        self.nodes = nodes
        sortChildren()
    }

    /// Children in name order (then user before kernel), as classic flamegraphs do.
    private mutating func sortChildren() {
        let names = self.names, snapshot = nodes
        for index in nodes.indices where nodes[index].children.count > 1 {
            nodes[index].children.sort { a, b in
                let (x, y) = (snapshot[Int(a)], snapshot[Int(b)])
                if x.name != y.name { return names[Int(x.name)] < names[Int(y.name)] }
                return x.kind.rawValue < y.kind.rawValue
            }
        }
    }

    func name(of node: Int) -> String { names[Int(nodes[node].name)] }

    func selfCount(of node: Int) -> Int64 {
        nodes[node].total - nodes[node].children.reduce(0) { $0 + nodes[Int($1)].total }
    }

    /// The node reached by following `path` (frame names) from the root, if any;
    /// `kernel`, when given, is the kernel flag of each frame in `path`.
    func find(_ path: [String], kernel: [Bool]? = nil) -> Int? {
        var node = 0
        for (depth, frame) in path.enumerated() {
            guard let child = nodes[node].children.first(where: { child in
                name(of: Int(child)) == frame && (kernel.map { $0[depth] == (nodes[Int(child)].kind == .kernel) } ?? true)
            }) else { return nil }
            node = Int(child)
        }
        return node
    }

    /// A tree of at most about `2 * maxNodes` nodes: it keeps the `maxNodes` heaviest
    /// nodes (always a connected top of the tree, since a child never outweighs its
    /// parent) and replaces each parent's dropped children by one `.merged` node that
    /// carries their samples. Returns `self` when the tree is small enough.
    func pruned(maxNodes: Int) -> FlameTree {
        guard nodes.count > maxNodes, maxNodes > 0 else { return self }
        let cut = nodes.map(\.total).sorted(by: >)[maxNodes]  // keep totals above it
        var names = self.names
        var mergedName: [Int: Int32] = [:]  // number of merged frames -> its label
        var kept: [Node] = []
        kept.reserveCapacity(maxNodes * 2)
        // Copies `old` (known to be kept) and, depth first, its kept descendants.
        func copy(_ old: Int) -> Int32 {
            let index = Int32(kept.count)
            kept.append(Node(name: nodes[old].name, kind: nodes[old].kind, total: nodes[old].total))
            var children: [Int32] = []
            var droppedCount = 0, droppedTotal: Int64 = 0
            for child in nodes[old].children {
                if nodes[Int(child)].total > cut {
                    children.append(copy(Int(child)))
                } else {
                    droppedCount += 1
                    droppedTotal += nodes[Int(child)].total
                }
            }
            if droppedCount > 0 {
                let label: Int32
                if let known = mergedName[droppedCount] {
                    label = known
                } else {
                    label = Int32(names.count)
                    names.append(droppedCount == 1 ? "[1 small frame]" : "[\(droppedCount) small frames]")
                    mergedName[droppedCount] = label
                }
                children.append(Int32(kept.count))
                kept.append(Node(name: label, kind: .merged, total: droppedTotal))
            }
            kept[Int(index)].children = children
            return index
        }
        _ = copy(0)
        return FlameTree(names: names, nodes: kept)
    }

    /// The tree as compact JSON, safe to embed in a `<script type="application/json">`:
    ///
    ///     {"total":T,"names":["all",...],"nodes":[k,t,c, k,t,c, ...]}
    ///
    /// `nodes` lists the tree in depth-first pre-order, three numbers per node:
    /// `k` = name index * 8 + kind (0 user, 1 kernel, 2 merged, 3 root, 4 python), `t` = total
    /// samples, `c` = number of children (which follow, each with its subtree).
    func json() -> String {
        var out = "{\"total\":\(total),\"names\":["
        out.reserveCapacity(nodes.count * 16 + names.reduce(0) { $0 + $1.utf8.count + 3 })
        for (index, name) in names.enumerated() {
            if index > 0 { out += "," }
            JSON.appendString(name, to: &out)
        }
        out += "],\"nodes\":["
        var first = true
        var pending: [Int32] = [0]  // pre-order walk without recursion
        while let node = pending.popLast() {
            let n = nodes[Int(node)]
            if !first { out += "," }
            first = false
            out += String(Int(n.name) * 8 + n.kind.rawValue)
            out += ","
            out += String(n.total)
            out += ","
            out += String(n.children.count)
            pending.append(contentsOf: n.children.reversed())
        }
        out += "]}"
        return out
    }
}

/// One row of the "Top functions" table.
struct FunctionStat: Sendable, Equatable {
    var name: String
    var kind: FlameTree.Kind
    var kernel: Bool { kind == .kernel }
    /// Samples with this function as the leaf.
    var selfCount: Int64
    /// Samples with this function anywhere on the stack (counted once per stack).
    var totalCount: Int64

    init(name: String, kind: FlameTree.Kind, selfCount: Int64, totalCount: Int64) {
        self.name = name
        self.kind = kind
        self.selfCount = selfCount
        self.totalCount = totalCount
    }

    init(name: String, kernel: Bool, selfCount: Int64, totalCount: Int64) {
        self.init(name: name, kind: kernel ? .kernel : .user, selfCount: selfCount, totalCount: totalCount)
    }

    /// The `limit` functions with the most self samples (ties by name).
    static func top(_ stacks: [FlameStack], limit: Int) -> [FunctionStat] {
        struct Key: Hashable { var name: String; var kind: FlameTree.Kind }
        var stats: [Key: FunctionStat] = [:]
        var seen = Set<Key>()
        for stack in stacks where stack.count > 0 && !stack.frames.isEmpty {
            seen.removeAll(keepingCapacity: true)
            for (depth, frame) in stack.frames.enumerated() {
                let key = Key(name: frame, kind: stack.kind(depth))
                guard seen.insert(key).inserted else { continue }  // recursion: count once
                stats[key, default: FunctionStat(name: frame, kind: key.kind, selfCount: 0, totalCount: 0)]
                    .totalCount += stack.count
            }
            let leaf = stack.frames.count - 1
            let key = Key(name: stack.frames[leaf], kind: stack.kind(leaf))
            stats[key]?.selfCount += stack.count
        }
        let ranked = stats.values.filter { $0.selfCount > 0 }.sorted {
            $0.selfCount != $1.selfCount ? $0.selfCount > $1.selfCount
                : $0.name != $1.name ? $0.name < $1.name : $0.kind.rawValue < $1.kind.rawValue
        }
        return Array(ranked.prefix(limit))
    }
}

/// Escaping for text embedded in the page.
enum JSON {
    /// Appends `string` as a JSON string literal that is also inert inside HTML
    /// `<script>`: `<`, `>` and `&` become `\u003c`, `\u003e`, `\u0026`, so neither
    /// `</script>` nor `<!--` can appear; U+2028/U+2029 are escaped for old parsers.
    static func appendString(_ string: String, to out: inout String) {
        out += "\""
        let plain = string.utf8.allSatisfy { byte in
            byte >= 0x20 && byte < 0x80 && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\")
                && byte != UInt8(ascii: "<") && byte != UInt8(ascii: ">") && byte != UInt8(ascii: "&")
        }
        if plain {
            out += string
        } else {
            for scalar in string.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case "<", ">", "&", "\u{2028}", "\u{2029}", "\u{0}"..."\u{1F}", "\u{7F}":
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}

enum HTML {
    /// `text` with `& < > " '` replaced by character references.
    /// Works on Unicode scalars, not Characters: a quote followed by a combining
    /// mark is one Character that is not equal to "\"", yet its quote byte ends an attribute.
    static func escape(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out.append(contentsOf: "&amp;".unicodeScalars)
            case "<": out.append(contentsOf: "&lt;".unicodeScalars)
            case ">": out.append(contentsOf: "&gt;".unicodeScalars)
            case "\"": out.append(contentsOf: "&quot;".unicodeScalars)
            case "'": out.append(contentsOf: "&#39;".unicodeScalars)
            default: out.append(scalar)
            }
        }
        return String(out)
    }
}
