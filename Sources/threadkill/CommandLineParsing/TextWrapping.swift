/// Fills lines of at most `width` characters with `words`, in order.
///
/// The first line starts with `firstPrefix`, later ones with `indent`; a
/// word longer than a line gets a line of its own rather than being split.
/// Widths count characters, which is what a terminal shows for the text
/// `threadkill` prints (µ, →, — and × are one column each).
func wrapWords(_ words: [String], width: Int, firstPrefix: String = "", indent: String = "") -> [String] {
    var lines: [String] = []
    var line = firstPrefix
    var lineHasWord = false
    for word in words {
        if lineHasWord && line.count + 1 + word.count > width {
            lines.append(line)
            line = indent
            lineHasWord = false
        }
        line += (lineHasWord ? " " : "") + word
        lineHasWord = true
    }
    lines.append(line)
    return lines
}

/// Wraps `text` at spaces to lines of at most `width` characters.
func wrapText(_ text: String, width: Int, firstPrefix: String = "", indent: String = "") -> [String] {
    wrapWords(text.split(separator: " ").map(String.init), width: width, firstPrefix: firstPrefix, indent: indent)
}
