package dev.vublk.control;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The JSON of the control socket, bounded because its input comes from any local client. Values
 * are {@code Map<String, Object>} (insertion order kept), {@code List<Object>}, {@code String},
 * {@code Long} (integers that fit), {@code Double} (every other number), {@code Boolean} and
 * null. A {@link Reader} takes one value at a time off a byte stream, as QMP has no framing of
 * its own: a message is one JSON value, whatever whitespace surrounds it.
 */
public final class Json {
    /** Deepest nesting of objects and arrays accepted in one message. */
    public static final int MAX_DEPTH = 32;
    /** Largest message a control client may send, in bytes. */
    public static final int MAX_MESSAGE = 64 * 1024;

    private Json() {}

    /** Input that is not JSON, or JSON beyond the bounds. */
    public static final class MalformedException extends IOException {
        MalformedException(String message) {
            super(message);
        }
    }

    /** Parses a whole string holding exactly one value (for the command line and tests). */
    public static Object parse(String text) throws MalformedException {
        Reader r = new Reader(new ByteArrayInputStream(text.getBytes(StandardCharsets.UTF_8)), Integer.MAX_VALUE, MAX_DEPTH);
        try {
            Object value = r.next();
            if (r.skipWhitespace() != -1) {
                throw new MalformedException("text after the JSON value");
            }
            return value;
        } catch (MalformedException e) {
            throw e;
        } catch (IOException e) { // a byte array neither ends early nor fails to read
            throw new MalformedException("no JSON value");
        }
    }

    /** Reads values one after the other from a stream, each within the byte and depth bounds. */
    public static final class Reader {
        private final InputStream in;
        private final int maxBytes;
        private final int maxDepth;
        private final ByteArrayOutputStream stringBytes = new ByteArrayOutputStream();
        private int used;
        private int pushedBack = -1;

        public Reader(InputStream in, int maxBytes, int maxDepth) {
            this.in = in;
            this.maxBytes = maxBytes;
            this.maxDepth = maxDepth;
        }

        /**
         * The next value.
         *
         * @throws EOFException when the stream ends cleanly before a value starts
         * @throws MalformedException for anything else that is not one bounded JSON value
         */
        public Object next() throws IOException {
            int c = skipWhitespace();
            if (c == -1) {
                throw new EOFException("end of stream");
            }
            used = 0;
            return value(count(c), 0);
        }

        private int skipWhitespace() throws IOException {
            int c;
            do {
                c = read();
            } while (whitespace(c));
            return c;
        }

        private int read() throws IOException {
            if (pushedBack != -1) {
                int c = pushedBack;
                pushedBack = -1;
                return c;
            }
            return in.read();
        }

        /** Charges one byte of the message against its bound. */
        private int count(int c) throws MalformedException {
            if (++used > maxBytes) {
                throw new MalformedException("message longer than " + maxBytes + " bytes");
            }
            return c;
        }

        private int nextByte() throws IOException {
            int c = read();
            if (c == -1) {
                throw new MalformedException("stream ended inside a JSON value");
            }
            return count(c);
        }

        private int nextToken() throws IOException {
            int c;
            do {
                c = nextByte();
            } while (whitespace(c));
            return c;
        }

        private static boolean whitespace(int c) {
            return c == ' ' || c == '\t' || c == '\n' || c == '\r';
        }

        private Object value(int c, int depth) throws IOException {
            return switch (c) {
                case '{' -> object(depth + 1);
                case '[' -> array(depth + 1);
                case '"' -> string();
                case 't' -> literal("rue", Boolean.TRUE);
                case 'f' -> literal("alse", Boolean.FALSE);
                case 'n' -> literal("ull", null);
                default -> {
                    if (c == '-' || (c >= '0' && c <= '9')) {
                        yield number(c);
                    }
                    throw new MalformedException("unexpected " + describe(c));
                }
            };
        }

        private Map<String, Object> object(int depth) throws IOException {
            checkDepth(depth);
            Map<String, Object> map = new LinkedHashMap<>();
            int c = nextToken();
            if (c == '}') {
                return map;
            }
            while (true) {
                if (c != '"') {
                    throw new MalformedException("expected a member name, found " + describe(c));
                }
                String key = string();
                if (nextToken() != ':') {
                    throw new MalformedException("expected ':' after member name \"" + key + "\"");
                }
                if (map.containsKey(key)) {
                    throw new MalformedException("member \"" + key + "\" appears twice");
                }
                map.put(key, value(nextToken(), depth));
                c = nextToken();
                if (c == '}') {
                    return map;
                }
                if (c != ',') {
                    throw new MalformedException("expected ',' or '}' in an object, found " + describe(c));
                }
                c = nextToken();
            }
        }

        private List<Object> array(int depth) throws IOException {
            checkDepth(depth);
            List<Object> list = new ArrayList<>();
            int c = nextToken();
            if (c == ']') {
                return list;
            }
            while (true) {
                list.add(value(c, depth));
                c = nextToken();
                if (c == ']') {
                    return list;
                }
                if (c != ',') {
                    throw new MalformedException("expected ',' or ']' in an array, found " + describe(c));
                }
                c = nextToken();
            }
        }

        private void checkDepth(int depth) throws MalformedException {
            if (depth > maxDepth) {
                throw new MalformedException("nesting deeper than " + maxDepth + " levels");
            }
        }

        private Object literal(String rest, Object value) throws IOException {
            for (int i = 0; i < rest.length(); i++) {
                if (nextByte() != rest.charAt(i)) {
                    throw new MalformedException("invalid literal");
                }
            }
            return value;
        }

        /**
         * A number per RFC 8259's grammar: integers that fit are Long, the rest Double; one too
         * large for a double is refused (RFC 8259 lets implementations bound the range).
         */
        private Object number(int first) throws IOException {
            StringBuilder b = new StringBuilder();
            int c = first;
            if (c == '-') {
                b.append('-');
                c = nextByte();
            }
            if (c == '0') {
                b.append('0');
                c = byteOrEnd();
            } else {
                c = digits(b, c);
            }
            boolean integral = true;
            if (c == '.') {
                integral = false;
                c = digits(b.append('.'), nextByte());
            }
            if (c == 'e' || c == 'E') {
                integral = false;
                b.append('e');
                c = nextByte();
                if (c == '+' || c == '-') {
                    b.append((char) c);
                    c = nextByte();
                }
                c = digits(b, c);
            }
            if (c != -1) { // the byte after the number belongs to what encloses it
                pushedBack = c;
                used--;
            }
            String text = b.toString();
            if (integral) {
                try {
                    return Long.parseLong(text);
                } catch (NumberFormatException tooLarge) {
                    // QEMU too reads integers beyond 64 bits as floating point
                }
            }
            double d = Double.parseDouble(text);
            if (Double.isInfinite(d)) { // 1e400 is valid JSON but nothing we could echo back or act on
                throw new MalformedException("number beyond the range of a 64-bit float");
            }
            return d;
        }

        /** One or more digits starting with {@code c}; returns the byte after them, or -1 at the end. */
        private int digits(StringBuilder b, int c) throws IOException {
            if (c < '0' || c > '9') {
                throw new MalformedException("expected a digit in a number, found " + describe(c));
            }
            while (c >= '0' && c <= '9') {
                b.append((char) c);
                c = byteOrEnd();
            }
            return c;
        }

        /** The next byte, counted, or -1 where a value may end with the stream (after a number). */
        private int byteOrEnd() throws IOException {
            int c = read();
            return c == -1 ? -1 : count(c);
        }

        /** The bytes up to the closing quote, escapes resolved, decoded as strict UTF-8. */
        private String string() throws IOException {
            stringBytes.reset();
            StringBuilder escaped = null; // chars of \\u escapes are UTF-16, so they join after decoding
            while (true) {
                int c = nextByte();
                if (c == '"') {
                    break;
                }
                if (c < 0x20) {
                    throw new MalformedException("control character " + describe(c) + " inside a string");
                }
                if (c != '\\') {
                    stringBytes.write(c);
                    continue;
                }
                int e = nextByte();
                switch (e) {
                    case '"', '\\', '/' -> stringBytes.write(e);
                    case 'b' -> stringBytes.write('\b');
                    case 'f' -> stringBytes.write('\f');
                    case 'n' -> stringBytes.write('\n');
                    case 'r' -> stringBytes.write('\r');
                    case 't' -> stringBytes.write('\t');
                    case 'u' -> {
                        escaped = flush(escaped);
                        escaped.append(unicodeEscape());
                    }
                    default -> throw new MalformedException("invalid escape \\" + describe(e));
                }
            }
            return flush(escaped).toString();
        }

        /** Moves the raw bytes gathered so far, decoded, onto the string being built. */
        private StringBuilder flush(StringBuilder b) throws MalformedException {
            StringBuilder out = b != null ? b : new StringBuilder();
            if (stringBytes.size() > 0) {
                try {
                    out.append(StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                            .onUnmappableCharacter(CodingErrorAction.REPORT)
                            .decode(ByteBuffer.wrap(stringBytes.toByteArray())));
                } catch (CharacterCodingException e) {
                    throw new MalformedException("invalid UTF-8 in a string");
                }
                stringBytes.reset();
            }
            return out;
        }

        /** {@code XXXX} after {@code \\u}, and the low half of a surrogate pair when the first is a high half. */
        private String unicodeEscape() throws IOException {
            char high = hex4();
            if (Character.isLowSurrogate(high)) {
                throw new MalformedException("unpaired low surrogate \\u" + Integer.toHexString(high));
            }
            if (!Character.isHighSurrogate(high)) {
                return String.valueOf(high);
            }
            if (nextByte() != '\\' || nextByte() != 'u') {
                throw new MalformedException("unpaired high surrogate \\u" + Integer.toHexString(high));
            }
            char low = hex4();
            if (!Character.isLowSurrogate(low)) {
                throw new MalformedException("high surrogate \\u" + Integer.toHexString(high) + " not followed by a low one");
            }
            return new String(new char[] {high, low});
        }

        private char hex4() throws IOException {
            int v = 0;
            for (int i = 0; i < 4; i++) {
                int d = Character.digit(nextByte(), 16);
                if (d < 0) {
                    throw new MalformedException("invalid \\u escape");
                }
                v = v << 4 | d;
            }
            return (char) v;
        }

        private static String describe(int c) {
            return c >= 0x21 && c < 0x7f ? "'" + (char) c + "'" : String.format("byte 0x%02x", c);
        }
    }

    /**
     * The value as QEMU prints it: {@code ", "} and {@code ": "} separators, everything beyond
     * ASCII escaped, so the output is plain ASCII whatever the strings hold.
     *
     * @throws IllegalArgumentException for a value of another type, or a non-finite number
     */
    public static String write(Object value) {
        StringBuilder b = new StringBuilder();
        write(b, value, 0);
        return b.toString();
    }

    private static void write(StringBuilder b, Object value, int depth) {
        if (depth > 2 * MAX_DEPTH) {
            throw new IllegalArgumentException("value nested deeper than " + 2 * MAX_DEPTH + " levels");
        }
        switch (value) {
            case null -> b.append("null");
            case String s -> quote(b, s);
            case Boolean bool -> b.append(bool);
            case Long l -> b.append(l);
            case Integer i -> b.append(i);
            case Double d -> {
                if (!Double.isFinite(d)) {
                    throw new IllegalArgumentException("JSON has no " + d);
                }
                b.append(d);
            }
            case Map<?, ?> map -> {
                b.append('{');
                String sep = "";
                for (Map.Entry<?, ?> e : map.entrySet()) {
                    if (!(e.getKey() instanceof String key)) {
                        throw new IllegalArgumentException("JSON member names are strings, not " + e.getKey());
                    }
                    b.append(sep);
                    quote(b, key);
                    b.append(": ");
                    write(b, e.getValue(), depth + 1);
                    sep = ", ";
                }
                b.append('}');
            }
            case List<?> list -> {
                b.append('[');
                String sep = "";
                for (Object o : list) {
                    b.append(sep);
                    write(b, o, depth + 1);
                    sep = ", ";
                }
                b.append(']');
            }
            default -> throw new IllegalArgumentException("no JSON form for " + value.getClass().getName());
        }
    }

    private static void quote(StringBuilder b, String s) {
        b.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                case '\b' -> b.append("\\b");
                case '\f' -> b.append("\\f");
                default -> {
                    if (c < 0x20 || c >= 0x7f) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        b.append('"');
    }
}
