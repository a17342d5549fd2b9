package dev.vublk.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.ByteArrayInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class JsonTest {
    @Test
    void parsesEveryKindOfValue() throws IOException {
        Map<String, Object> expected = new LinkedHashMap<>();
        expected.put("s", "a\"b\\c/d\b\f\n\r\t");
        expected.put("n", Arrays.asList(0L, -7L, Long.MAX_VALUE, Long.MIN_VALUE, 1.5, -2.5e-3, 1e3, 9.3e18));
        expected.put("k", Arrays.asList(true, false, null));
        expected.put("o", Map.of());
        expected.put("a", List.of());
        assertEquals(expected, Json.parse(" {\"s\": \"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\", \"n\": [0, -7, 9223372036854775807,"
                + " -9223372036854775808, 1.5, -2.5E-3, 1e3, 9300000000000000000], \"k\": [true, false, null],"
                + " \"o\": {}, \"a\": [ ]}\n"));
    }

    @Test
    void decodesUtf8AndEscapesIncludingSurrogatePairs() throws IOException {
        assertEquals("é€😀", Json.parse("\"é€😀\""));
        assertEquals("é€😀", Json.parse("\"\\u00e9\\u20AC\\ud83d\\ude00\""));
        assertEquals("x😀y", Json.parse("\"x\\ud83d\\ude00y\""));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', quoteCharacter = '`', value = {
        "{\"a\" 1}|expected ':' after member name \"a\"",
        "{\"a\": 1,}|expected a member name, found '}'",
        "{\"a\": 1, \"a\": 2}|member \"a\" appears twice",
        "[1 2]|expected ',' or ']' in an array, found '2'",
        "[1,]|unexpected ']'",
        "tru|stream ended inside a JSON value",
        "trux|invalid literal",
        "01|text after the JSON value",
        "-|stream ended inside a JSON value",
        "1.|stream ended inside a JSON value",
        "1.e5|expected a digit in a number, found 'e'",
        "1e|stream ended inside a JSON value",
        "+1|unexpected '+'",
        "1e400|number beyond the range of a 64-bit float",
        "[-2E+999]|number beyond the range of a 64-bit float",
        "\"\\x\"|invalid escape \\'x'",
        "\"\\u12g4\"|invalid \\u escape",
        "\"\\ud83d\"|unpaired high surrogate \\ud83d",
        "\"\\ud83dx\"|unpaired high surrogate \\ud83d",
        "\"\\ud83d\\u0041\"|high surrogate \\ud83d not followed by a low one",
        "\"\\ude00\"|unpaired low surrogate \\ude00",
        "\"abc|stream ended inside a JSON value",
        "<empty>|no JSON value",
        "1 2|text after the JSON value",
    })
    void refusesWhatIsNotJson(String text, String message) {
        Json.MalformedException e = assertThrows(Json.MalformedException.class, () -> Json.parse(text.equals("<empty>") ? "" : text));
        assertEquals(message, e.getMessage());
    }

    @Test
    void refusesInvalidUtf8AndRawControlCharacters() {
        for (byte[] bad : List.of(new byte[] {'"', (byte) 0xff, '"'}, new byte[] {'"', (byte) 0xc3, '"'},
                new byte[] {'"', (byte) 0xed, (byte) 0xa0, (byte) 0x80, '"'} /* an encoded surrogate */)) {
            Json.Reader r = new Json.Reader(new ByteArrayInputStream(bad), 100, 4);
            assertEquals("invalid UTF-8 in a string", assertThrows(Json.MalformedException.class, r::next).getMessage());
        }
        assertEquals("control character byte 0x0a inside a string",
                assertThrows(Json.MalformedException.class, () -> Json.parse("\"a\nb\"")).getMessage());
        assertEquals("unexpected byte 0xc3", assertThrows(Json.MalformedException.class, () -> Json.parse("é")).getMessage());
    }

    @Test
    void boundsNestingDepth() throws IOException {
        String ok = "[".repeat(Json.MAX_DEPTH) + "]".repeat(Json.MAX_DEPTH);
        assertEquals(ok, Json.write(Json.parse(ok)).replace(" ", ""));
        String deep = "{\"a\": " + ok + "}";
        assertEquals("nesting deeper than 32 levels", assertThrows(Json.MalformedException.class, () -> Json.parse(deep)).getMessage());
    }

    @Test
    void boundsEachMessageNotTheStream() throws IOException {
        String message = "{\"a\": \"" + "x".repeat(90) + "\"}"; // 99 bytes
        Json.Reader r = new Json.Reader(new ByteArrayInputStream((message + "   " + message + message + " 12345 [" + "1,".repeat(60) + "1]")
                .getBytes(StandardCharsets.US_ASCII)), 100, 4);
        for (int i = 0; i < 3; i++) {
            assertEquals(Map.of("a", "x".repeat(90)), r.next());
        }
        assertEquals(12345L, r.next());
        assertEquals("message longer than 100 bytes", assertThrows(Json.MalformedException.class, r::next).getMessage());
    }

    @Test
    void readerEndsCleanlyOnlyBetweenValues() throws IOException {
        Json.Reader r = new Json.Reader(new ByteArrayInputStream("{} \r\n ".getBytes(StandardCharsets.US_ASCII)), 100, 4);
        assertEquals(Map.of(), r.next());
        assertThrows(EOFException.class, r::next);
        Json.Reader cut = new Json.Reader(new ByteArrayInputStream("{\"a\"".getBytes(StandardCharsets.US_ASCII)), 100, 4);
        assertEquals("stream ended inside a JSON value", assertThrows(Json.MalformedException.class, cut::next).getMessage());
    }

    @Test
    void writesQemusLayoutInAsciiAndReadsItBack() throws IOException {
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("s", "q\"\\\n\u0001é😀");
        v.put("n", Arrays.asList(1L, 2, -0.5, null, true));
        v.put("o", Map.of("k", List.of()));
        String text = Json.write(v);
        assertEquals("{\"s\": \"q\\\"\\\\\\n\\u0001\\u00e9\\ud83d\\ude00\", \"n\": [1, 2, -0.5, null, true], \"o\": {\"k\": []}}", text);
        Map<String, Object> back = new LinkedHashMap<>(v);
        back.put("n", Arrays.asList(1L, 2L, -0.5, null, true));
        assertEquals(back, Json.parse(text));
    }

    @Test
    void writeRefusesWhatJsonCannotCarry() {
        assertEquals("JSON has no NaN", assertThrows(IllegalArgumentException.class, () -> Json.write(Double.NaN)).getMessage());
        assertEquals("no JSON form for java.lang.Object",
                assertThrows(IllegalArgumentException.class, () -> Json.write(List.of(new Object()))).getMessage());
        assertEquals("JSON member names are strings, not 1",
                assertThrows(IllegalArgumentException.class, () -> Json.write(Map.of(1, 2))).getMessage());
    }
}
