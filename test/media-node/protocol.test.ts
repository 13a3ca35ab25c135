// Pure protocol validation: every bad frame becomes an error with a stable code (and the request
// id when it is readable); valid frames become typed requests.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ErrorCode } from "#shared/errors.ts";
import { MAX_MESSAGE_BYTES, METHODS, PROTOCOL_VERSION, encodeRequest, parseRequest } from "#shared/protocol.ts";

const frame = (o: unknown) => JSON.stringify(o);

describe("parseRequest", () => {
  it("accepts a valid request of each simple shape", () => {
    const r = parseRequest(encodeRequest(7, "createTransport", { direction: "recv", enableSctp: true }));
    expect(r).toEqual({
      ok: true,
      request: { id: 7, method: "createTransport", data: { direction: "recv", enableSctp: true } },
    });
    const j = parseRequest(frame({ v: PROTOCOL_VERSION, id: 1, method: "join" }));
    expect(j).toEqual({ ok: true, request: { id: 1, method: "join", data: {} } });
  });

  it.each([
    ["not JSON", "{nope", null],
    ["wrong version", frame({ v: 99, id: 3, method: "ping" }), 3],
    ["missing id", frame({ v: 1, method: "ping" }), null],
    ["unknown method", frame({ v: 1, id: 4, method: "selfDestruct", data: {} }), 4],
    ["bad body", frame({ v: 1, id: 5, method: "createTransport", data: { direction: "sideways" } }), 5],
    [
      "bad dtls",
      frame({
        v: 1,
        id: 6,
        method: "connectTransport",
        data: { transportId: "t", dtlsParameters: { fingerprints: [] } },
      }),
      6,
    ],
    ["array", "[1,2,3]", null],
    ["prototype key as method", frame({ v: 1, id: 8, method: "__proto__" }), 8],
  ])("%s → bad_request", (_name, raw, id) => {
    const r = parseRequest(raw);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe(ErrorCode.BadRequest);
      expect(r.id).toBe(id);
    }
  });

  it("refuses oversized frames before parsing them", () => {
    const r = parseRequest(frame({ v: 1, id: 1, method: "ping", data: { pad: "x".repeat(MAX_MESSAGE_BYTES) } }));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.message).toMatch(/larger than/);
  });

  it("never throws, whatever arrives", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc
            .record({ v: fc.constant(1), id: fc.nat(), method: fc.constantFrom(...METHODS), data: fc.anything() })
            .map((o) => JSON.stringify(o)),
        ),
        (raw) => {
          const r = parseRequest(raw);
          expect(typeof r.ok).toBe("boolean");
        },
      ),
      { numRuns: 2000 },
    );
  });
});
