import CYAML

/// Writes node trees as YAML text through libyaml's emitter. Strings are quoted wherever a YAML 1.1
/// reader (RKE2, kubectl) or a YAML 1.2 reader would take them for a number, boolean or null.
public enum YAMLEmitter {
    public static func emit(_ node: YAMLNode) throws -> String {
        try emit(documents: [node])
    }

    /// Several documents separated by `---`.
    public static func emit(documents: [YAMLNode]) throws -> String {
        let output = OutputBuffer()
        let emitter = UnsafeMutablePointer<yaml_emitter_t>.allocate(capacity: 1)
        defer { emitter.deallocate() }
        guard yaml_emitter_initialize(emitter) == 1 else { throw EmitError("libyaml could not allocate an emitter") }
        defer { yaml_emitter_delete(emitter) }

        let context = Unmanaged.passRetained(output)
        defer { context.release() }
        yaml_emitter_set_output(emitter, { data, buffer, size in
            guard let data, let buffer else { return 0 }
            Unmanaged<OutputBuffer>.fromOpaque(data).takeUnretainedValue().bytes
                .append(contentsOf: UnsafeBufferPointer(start: buffer, count: size))
            return 1
        }, context.toOpaque())
        yaml_emitter_set_unicode(emitter, 1)
        yaml_emitter_set_indent(emitter, 2)
        yaml_emitter_set_width(emitter, -1)  // never fold long lines: tokens and URLs stay on one line

        let writer = EventWriter(emitter: emitter)
        try writer.write { event in yaml_stream_start_event_initialize(event, YAML_UTF8_ENCODING) }
        for (index, document) in documents.enumerated() {
            let implicit: Int32 = index == 0 ? 1 : 0
            try writer.write { event in yaml_document_start_event_initialize(event, nil, nil, nil, implicit) }
            try writer.node(document)
            try writer.write { event in yaml_document_end_event_initialize(event, 1) }
        }
        try writer.write { event in yaml_stream_end_event_initialize(event) }
        return String(decoding: output.bytes, as: UTF8.self)
    }

    public struct EmitError: Error, CustomStringConvertible, Sendable {
        public let description: String
        init(_ description: String) { self.description = description }
    }
}

private final class OutputBuffer {
    var bytes: [UInt8] = []
}

private struct EventWriter {
    let emitter: UnsafeMutablePointer<yaml_emitter_t>

    func write(_ initialise: (UnsafeMutablePointer<yaml_event_t>) -> Int32) throws {
        var event = yaml_event_t()
        guard initialise(&event) == 1 else { throw YAMLEmitter.EmitError("libyaml refused to build an event") }
        // yaml_emitter_emit takes ownership of the event, also on failure.
        guard yaml_emitter_emit(emitter, &event) == 1 else {
            let problem = emitter.pointee.problem.map { String(cString: $0) } ?? "unknown problem"
            throw YAMLEmitter.EmitError("libyaml could not write YAML: \(problem)")
        }
    }

    func node(_ node: YAMLNode) throws {
        switch node.content {
        case .scalar(let scalar):
            try self.scalar(scalar, tag: node.tag)
        case .sequence(let items):
            try withTag(node.tag, defaultTag: Tag.seq) { tag, implicit in
                try write { yaml_sequence_start_event_initialize($0, nil, tag, implicit, YAML_BLOCK_SEQUENCE_STYLE) }
            }
            for item in items { try self.node(item) }
            try write { yaml_sequence_end_event_initialize($0) }
        case .mapping(let pairs):
            try withTag(node.tag, defaultTag: Tag.map) { tag, implicit in
                try write { yaml_mapping_start_event_initialize($0, nil, tag, implicit, YAML_BLOCK_MAPPING_STYLE) }
            }
            for pair in pairs {
                try self.node(pair.key)
                try self.node(pair.value)
            }
            try write { yaml_mapping_end_event_initialize($0) }
        }
    }

    private func withTag(_ tag: String?, defaultTag: String, _ body: (UnsafeMutablePointer<yaml_char_t>?, Int32) throws -> Void) throws {
        guard let tag, tag != defaultTag, tag != Tag.nonSpecific else { return try body(nil, 1) }
        var bytes = Array(tag.utf8) + [0]
        try bytes.withUnsafeMutableBufferPointer { try body($0.baseAddress, 0) }
    }

    private func scalar(_ scalar: Scalar, tag: String?) throws {
        var value = Array(scalar.value.utf8)
        let length = value.count
        let style: yaml_scalar_style_t
        var explicitTag: String? = nil
        switch (tag, scalar.style) {
        case (nil, .plain):
            // Written plain by a user (or a number/boolean built in code): keep it as written, so the
            // reader resolves it exactly as it would have resolved the user's own text.
            style = YAML_PLAIN_SCALAR_STYLE
        case (nil, _), (Tag.str?, _), (Tag.nonSpecific?, _):
            // A string: plain where that is unambiguous, literal block for multi-line text, else quoted.
            if ScalarResolver.isSafePlainString(scalar.value) {
                style = YAML_PLAIN_SCALAR_STYLE
            } else if scalar.value.contains("\n") {
                style = YAML_LITERAL_SCALAR_STYLE  // libyaml falls back to quoting when a block cannot hold it
            } else {
                style = YAML_DOUBLE_QUOTED_SCALAR_STYLE
            }
        case (let other?, _):
            explicitTag = other
            style = scalar.style == .plain ? YAML_PLAIN_SCALAR_STYLE : YAML_DOUBLE_QUOTED_SCALAR_STYLE
        }
        try value.withUnsafeMutableBufferPointer { buffer in
            let pointer = buffer.baseAddress ?? UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
            defer { if buffer.baseAddress == nil { pointer.deallocate() } }
            if let explicitTag {
                var tagBytes = Array(explicitTag.utf8) + [0]
                try tagBytes.withUnsafeMutableBufferPointer { tagBuffer in
                    try write { yaml_scalar_event_initialize($0, nil, tagBuffer.baseAddress, pointer, Int32(length), 0, 0, style) }
                }
            } else {
                // A plain scalar is implicit only as plain; quoted styles are implicit only as quoted.
                let plainImplicit: Int32 = style == YAML_PLAIN_SCALAR_STYLE ? 1 : 0
                try write { yaml_scalar_event_initialize($0, nil, nil, pointer, Int32(length), plainImplicit, 1, style) }
            }
        }
    }
}
