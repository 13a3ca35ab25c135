// The Redis records' readers (shared/records.ts): one per record, never a throw.
import { describe, expect, it } from "vitest";
import { readNodeRecord, readParticipantRecord, readRoomRecord, roomSettingsOf } from "#shared/records.ts";
import { nodeRecord } from "../support/nodes.ts";

describe("room record", () => {
  const flat = [
    "name",
    "r",
    "node",
    "n1",
    "region",
    "us-east",
    "createdAt",
    "1700000000000",
    "emptyTimeout",
    "300",
    "maxParticipants",
    "2",
    "metadata",
    "m",
    "epoch",
    "3",
    "sid",
    "RM_1",
  ];

  it("reads a script's flat HGETALL reply and ioredis's object alike", () => {
    const want = {
      name: "r",
      node: "n1",
      region: "us-east",
      sid: "RM_1",
      createdAt: 1700000000000,
      emptyTimeout: 300,
      maxParticipants: 2,
      metadata: "m",
    };
    expect(readRoomRecord(flat)).toEqual(want);
    expect(
      readRoomRecord(
        Object.fromEntries(Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i], flat[2 * i + 1]])),
      ),
    ).toEqual(want);
  });

  it("a record claim_room wrote (no settings) reads with the settings absent; junk settings read as absent", () => {
    const r = readRoomRecord({
      name: "r",
      node: "n1",
      region: "eu",
      createdAt: "5",
      maxParticipants: "-1",
      emptyTimeout: "1e3",
    });
    expect(r).toEqual({ name: "r", node: "n1", region: "eu", createdAt: 5 });
    expect(roomSettingsOf(r)).toEqual({ createdAt: 5 });
  });

  it("no record, or one without its node: undefined", () => {
    expect(readRoomRecord([])).toBeUndefined();
    expect(readRoomRecord({})).toBeUndefined();
    expect(readRoomRecord({ name: "r" })).toBeUndefined();
    expect(readRoomRecord(null)).toBeUndefined();
    expect(roomSettingsOf(undefined)).toEqual({});
  });
});

describe("participant and node records", () => {
  it("read what the node writes; anything else is undefined", () => {
    const p = {
      identity: "a",
      name: "A",
      sid: "PA_1",
      joinedAt: 1,
      signalNode: "n1",
      tracks: [{ sid: "TR_1", kind: "audio", source: "microphone", muted: false }],
    };
    expect(readParticipantRecord(JSON.stringify(p))).toEqual(p);
    for (const junk of [
      "{not json",
      "null",
      JSON.stringify({ identity: "a" }),
      JSON.stringify({ ...p, tracks: [{ kind: "smell" }] }),
    ])
      expect(readParticipantRecord(junk), junk).toBeUndefined();
    const n = nodeRecord({ id: "n1" });
    expect(readNodeRecord(JSON.stringify(n))).toEqual(n);
    expect(readNodeRecord(JSON.stringify({ ...n, region: "" }))).toBeUndefined();
    expect(readNodeRecord(undefined)).toBeUndefined();
  });
});
