import { describe, expect, it } from "vitest";
import { decodeText, lineColumn, scanJson, stripColors } from "../../../automation/preview/text";

describe("decodeText", () => {
  const text = '{\r\n  "steps": []\r\n}\r\n';
  it.each([
    ["UTF-8", Buffer.from(text, "utf8")],
    ["UTF-8 with BOM", Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text, "utf8")])],
    ["UTF-16LE with BOM", Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, "utf16le")])],
    ["UTF-16LE without BOM", Buffer.from(text, "utf16le")],
    ["UTF-16BE with BOM", Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(text, "utf16le").swap16()])],
    ["a string with a BOM", `\ufeff${text}`],
  ])("decodes %s without the BOM", (_, data) => {
    expect(decodeText(data)).toBe(text);
  });

  it("keeps non-ASCII text of UTF-16", () => {
    expect(decodeText(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('{"name":"Zürich ✓"}', "utf16le")]))).toBe('{"name":"Zürich ✓"}');
  });
});

describe("lineColumn", () => {
  it("counts lines by \\n (CRLF is one break) and columns from 1", () => {
    const text = "ab\r\ncd\nef";
    expect(lineColumn(text, 0)).toEqual({ line: 1, column: 1 });
    expect(lineColumn(text, 4)).toEqual({ line: 2, column: 1 });
    expect(lineColumn(text, 5)).toEqual({ line: 2, column: 2 });
    expect(lineColumn(text, 8)).toEqual({ line: 3, column: 2 });
  });
});

describe("scanJson", () => {
  it("finds the end of a value and the trailing whitespace", () => {
    expect(scanJson('{"a": [1, -2.5e3, true, null, "x\\u00e9\\n"]}  \nrest')).toEqual({ ok: true, end: 46 });
    expect(scanJson("  [] ", 0)).toEqual({ ok: true, end: 5 });
  });

  it.each([
    ['{"a": 1,}', 8, 'expected a property name in double quotes, found "}"'],
    ['{"a": x}', 6, 'expected a value, found "x"'],
    ['{"a" 1}', 5, "expected ':' after a property name, found \"1\""],
    ['{"a": 1', 7, "expected ',' or '}' after a property value, found the end of the input"],
    ["[1 2]", 3, "expected ',' or ']' after an array element, found \"2\""],
    ['{"a": 1 "b": 2}', 8, "expected ',' or '}' after a property value, found \"\\\"b\\\"\""],
    ['{"a": "b\nc"}', 6, "unterminated string (a line break or the end of the input before its closing quote)"],
    ['{"a": "b', 6, "unterminated string (a line break or the end of the input before its closing quote)"],
    ['["\\x"]', 1, "invalid escape in a string"],
    ['["\\u12g4"]', 1, "\\u must be followed by four hex digits"],
    ['["a\u0001"]', 1, "control character in a string (it must be escaped)"],
    ["[1.]", 1, "invalid number"],
    ["[-]", 1, 'expected a value, found "-"'],
    ["[1, /* no */ 2]", 4, "comments are not allowed in JSON"],
    ["", 0, "expected a value, found the end of the input"],
  ])("%j: error at %i: %s", (text, offset, message) => {
    expect(scanJson(text)).toEqual({ ok: false, error: { offset, message } });
  });

  it("accepts every value JSON.parse accepts in a sample", () => {
    const sample = JSON.stringify({ a: [1, 2.5, -3e-7, 'q"\\\u0001', { b: null, c: false }], d: "é✓" }, null, 2);
    expect(scanJson(sample)).toEqual({ ok: true, end: sample.length });
  });
});

describe("stripColors", () => {
  it("removes ANSI escapes and Pulumi colour tags", () => {
    expect(stripColors("\u001b[90m(/tmp/\u001b[39mindex.ts:26:7\u001b[90m)\u001b[39m \u001b[4m@pulumi/pulumi\u001b[24m")).toBe(
      "(/tmp/index.ts:26:7) @pulumi/pulumi",
    );
    expect(stripColors("<{%reset%}>Buckets need replication.<{%reset%}>\n")).toBe("Buckets need replication.\n");
    expect(stripColors("\u001b]8;;https://x\u0007link\u001b]8;;\u0007")).toBe("link");
  });
});
