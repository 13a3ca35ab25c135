// LiveKit's RoomService over Twirp at /twirp/livekit.RoomService/<Method>, so livekit-server-sdk's
// RoomServiceClient works unchanged. Requests and responses are @livekit/protocol messages in
// protobuf-JSON (application/json) or binary (application/protobuf); every method runs the same
// operation as the /v1 REST API (room-service.ts). Grants as LiveKit checks them: roomCreate
// (CreateRoom, DeleteRoom), roomList (ListRooms), roomAdmin for the named room (the rest).
import {
  CreateRoomRequest,
  DeleteRoomRequest,
  DeleteRoomResponse,
  ListParticipantsRequest,
  ListParticipantsResponse,
  ListRoomsRequest,
  ListRoomsResponse,
  MuteRoomTrackRequest,
  MuteRoomTrackResponse,
  RemoveParticipantResponse,
  RoomParticipantIdentity,
  SendDataRequest,
  SendDataResponse,
  UpdateParticipantRequest,
  UpdateRoomMetadataRequest,
  UpdateSubscriptionsRequest,
  UpdateSubscriptionsResponse,
} from "@livekit/protocol";
import { Hono, type Context } from "hono";
import { ROOM_METADATA_MAX, RoomName } from "#shared/limits.ts";
import { lkParticipant, lkRoom, lkTrack, permissionUpdate } from "#shared/livekit.ts";
import { ROOM_LIMITS, RoomOp } from "#shared/room-admin.ts";
import { authenticate, bearerToken, requireGrant, type AdminGrant } from "../auth.ts";
import { settings, type Env, type Settings } from "../env.ts";
import * as ops from "../room-service.ts";
import type { RoomCursor } from "../store.ts";
import { cfOf } from "../routes/cf.ts";
import { TwirpError } from "./errors.ts";

export const TWIRP_PREFIX = "/twirp/livekit.RoomService/";
/** Largest request body (SendData's payload, base64 in JSON, is the biggest legitimate one). */
const MAX_BODY_BYTES = 256 * 1024;
/** Most rooms (participants) one ListRooms (ListParticipants) answers: a bound on the Worker's
 * memory and time; LiveKit has none. */
const MAX_LISTED = 10_000;

/** What a protobuf message class offers here (@livekit/protocol's generated classes). */
interface MessageClass<T> {
  fromJson(json: unknown, o?: { ignoreUnknownFields?: boolean }): T;
  fromBinary(bytes: Uint8Array): T;
}
interface Encodable {
  toJson(o?: { emitDefaultValues?: boolean }): unknown;
  toBinary(): Uint8Array;
}

interface Call {
  s: Settings;
  apiKey: string;
  c: Context<{ Bindings: Env }>;
}

interface Method<T> {
  request: MessageClass<T>;
  grant: AdminGrant;
  /** The room a roomAdmin grant must name. */
  room?: (r: T) => string;
  run: (call: Call, r: T) => Promise<Encodable>;
}

const method = <T>(m: Method<T>): Method<unknown> => m as Method<unknown>;

function roomName(name: string): string {
  const r = RoomName.safeParse(name);
  if (!r.success) throw new TwirpError("invalid_argument", r.error.issues[0]?.message ?? "invalid room name");
  return r.data;
}

/** Validates a live-room operation with the one schema the node applies too (limits included). */
function op(o: unknown): RoomOp {
  const r = RoomOp.safeParse(o);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new TwirpError("invalid_argument", i ? `${i.path.join(".") || "request"}: ${i.message}` : "invalid request");
  }
  return r.data;
}

function b64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

const METHODS: Record<string, Method<unknown>> = {
  CreateRoom: method({
    request: CreateRoomRequest,
    grant: "roomCreate",
    run: async ({ s, c, apiKey }, r) => {
      if (new TextEncoder().encode(r.metadata).length > ROOM_METADATA_MAX)
        throw new TwirpError("invalid_argument", `metadata larger than ${ROOM_METADATA_MAX} bytes`);
      const input = {
        name: roomName(r.name),
        emptyTimeout: r.emptyTimeout || undefined,
        maxParticipants: r.maxParticipants,
        metadata: r.metadata,
      };
      return lkRoom((await ops.createRoom(s, apiKey, input, cfOf(c, s))).room);
    },
  }),
  ListRooms: method({
    request: ListRoomsRequest,
    grant: "roomList",
    run: async ({ s }, r) => {
      if (r.names.length > 1000) throw new TwirpError("invalid_argument", "at most 1000 names");
      // LiveKit answers every room at once: pages are followed up to MAX_LISTED rooms.
      if (r.names.length > 0) return new ListRoomsResponse({ rooms: (await ops.roomsNamed(s, r.names)).map(lkRoom) });
      const rooms = [];
      let after: RoomCursor | undefined;
      do {
        const page = await ops.listRooms(s, 1000, after);
        rooms.push(...page.rooms);
        after = page.next;
      } while (after && rooms.length < MAX_LISTED);
      return new ListRoomsResponse({ rooms: rooms.slice(0, MAX_LISTED).map(lkRoom) });
    },
  }),
  DeleteRoom: method({
    request: DeleteRoomRequest,
    grant: "roomCreate",
    run: async ({ s }, r) => {
      await ops.deleteRoom(s, roomName(r.room));
      return new DeleteRoomResponse();
    },
  }),
  ListParticipants: method({
    request: ListParticipantsRequest,
    grant: "roomAdmin",
    room: (r) => r.room,
    run: async ({ s }, r) => {
      const room = roomName(r.room);
      const participants = [];
      let cursor: string | undefined;
      do {
        const page = await ops.listParticipants(s, room, cursor);
        participants.push(...page.items);
        cursor = page.next;
      } while (cursor && participants.length < MAX_LISTED);
      return new ListParticipantsResponse({ participants: participants.slice(0, MAX_LISTED).map(lkParticipant) });
    },
  }),
  GetParticipant: method({
    request: RoomParticipantIdentity,
    grant: "roomAdmin",
    room: (r) => r.room,
    run: async ({ s }, r) => lkParticipant(await ops.getParticipant(s, roomName(r.room), r.identity)),
  }),
  RemoveParticipant: method({
    request: RoomParticipantIdentity,
    grant: "roomAdmin",
    room: (r) => r.room,
    run: async ({ s }, r) => {
      await ops.roomOp(s, roomName(r.room), op({ op: "removeParticipant", identity: r.identity }));
      return new RemoveParticipantResponse();
    },
  }),
  MutePublishedTrack: method({
    request: MuteRoomTrackRequest,
    grant: "roomAdmin",
    room: (r) => r.room,
    run: async ({ s }, r) => {
      const out = await ops.roomOp(
        s,
        roomName(r.room),
        op({ op: "mutePublishedTrack", identity: r.identity, trackSid: r.trackSid, muted: r.muted }),
      );
      return new MuteRoomTrackResponse(out.track ? { track: lkTrack(out.track) } : {});
    },
  }),
  UpdateParticipant: method({
    request: UpdateParticipantRequest,
    grant: "roomAdmin",
    room: (r) => r.room,
    run: async ({ s }, r) => {
      // proto3: an empty name/metadata or no attributes means "unchanged" (LiveKit reads them so).
      const update = op({
        op: "updateParticipant",
        identity: r.identity,
        ...(r.name ? { name: r.name } : {}),
        ...(r.metadata ? { metadata: r.metadata } : {}),
        ...(Object.keys(r.attributes).length > 0 ? { attributes: r.attributes } : {}),
        ...(r.permission ? { permission: permissionUpdate(r.permission) } : {}),
      });
      const out = await ops.roomOp(s, roomName(r.room), update);
      if (!out.participant) throw new TwirpError("internal", "the hosting node returned no participant");
      return lkParticipant(out.participant);
    },
  }),
  UpdateSubscriptions: method({
    request: UpdateSubscriptionsRequest,
    grant: "roomAdmin",
    room: (r) => r.room,
    run: async ({ s }, r) => {
      await ops.roomOp(
        s,
        roomName(r.room),
        op({ op: "updateSubscriptions", identity: r.identity, trackSids: r.trackSids, subscribe: r.subscribe }),
      );
      return new UpdateSubscriptionsResponse();
    },
  }),
  SendData: method({
    request: SendDataRequest,
    grant: "roomAdmin",
    room: (r) => r.room,
    run: async ({ s }, r) => {
      if (r.data.length > ROOM_LIMITS.dataBytes)
        throw new TwirpError("invalid_argument", `data larger than ${ROOM_LIMITS.dataBytes} bytes`);
      const send = op({
        op: "sendData",
        data: b64(r.data),
        ...(r.topic !== undefined ? { topic: r.topic } : {}),
        destinationIdentities: r.destinationIdentities,
      });
      await ops.roomOp(s, roomName(r.room), send);
      return new SendDataResponse();
    },
  }),
  UpdateRoomMetadata: method({
    request: UpdateRoomMetadataRequest,
    grant: "roomAdmin",
    room: (r) => r.room,
    run: async ({ s }, r) => {
      const { metadata } = op({ op: "updateRoomMetadata", metadata: r.metadata }) as Extract<
        RoomOp,
        { op: "updateRoomMetadata" }
      >;
      return lkRoom(await ops.updateRoomMetadata(s, roomName(r.room), metadata));
    },
  }),
};

type Encoding = "json" | "protobuf";

function encodingOf(contentType: string | undefined): Encoding | undefined {
  const mime = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  return mime === "application/json" ? "json" : mime === "application/protobuf" ? "protobuf" : undefined;
}

async function readBody(c: Context): Promise<Uint8Array> {
  const declared = Number(c.req.header("content-length") ?? 0);
  if (declared > MAX_BODY_BYTES) throw new TwirpError("malformed", `request body larger than ${MAX_BODY_BYTES} bytes`);
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  if (bytes.length > MAX_BODY_BYTES)
    throw new TwirpError("malformed", `request body larger than ${MAX_BODY_BYTES} bytes`);
  return bytes;
}

function decode<T>(m: MessageClass<T>, bytes: Uint8Array, enc: Encoding): T {
  try {
    if (enc === "protobuf") return m.fromBinary(bytes);
    // Twirp discards unknown fields (forward compatibility); a wrong type is malformed.
    return m.fromJson(JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)), {
      ignoreUnknownFields: true,
    });
  } catch (e) {
    throw new TwirpError("malformed", `the ${enc} request could not be decoded: ${(e as Error).message.slice(0, 200)}`);
  }
}

async function serve(c: Context<{ Bindings: Env }>): Promise<Response> {
  const name = c.req.path.slice(TWIRP_PREFIX.length);
  const m = Object.hasOwn(METHODS, name) ? METHODS[name] : undefined;
  if (c.req.method !== "POST" || !m)
    throw new TwirpError("bad_route", `no handler for ${c.req.method} ${c.req.path.slice(0, 200)}`);
  const enc = encodingOf(c.req.header("content-type"));
  if (!enc) throw new TwirpError("bad_route", "unexpected Content-Type: use application/json or application/protobuf");
  const s = settings(c.env);
  const bytes = await readBody(c);
  // Authenticate before decoding: an anonymous caller learns nothing about the body's shape.
  const claims = await authenticate(bearerToken(c), s.apiKeys);
  requireGrant(claims, m.grant);
  const req = decode(m.request, bytes, enc);
  if (m.room) requireGrant(claims, m.grant, m.room(req));
  const out = await m.run({ s, apiKey: claims.iss, c }, req);
  if (enc === "protobuf")
    return new Response(out.toBinary() as Uint8Array<ArrayBuffer>, {
      headers: { "content-type": "application/protobuf" },
    });
  return new Response(JSON.stringify(out.toJson({ emitDefaultValues: true })), {
    headers: { "content-type": "application/json" },
  });
}

export const twirp = new Hono<{ Bindings: Env }>();

twirp.all(`${TWIRP_PREFIX}*`, async (c) => {
  try {
    return await serve(c);
  } catch (e) {
    const t = TwirpError.from(e);
    if (t.code === "internal") console.error(`twirp ${c.req.path}: ${(e as Error).message}`);
    return t.response();
  }
});
twirp.all("/twirp/*", (c) => new TwirpError("bad_route", `no service at ${c.req.path.slice(0, 200)}`).response());
