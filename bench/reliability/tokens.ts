// Token attacks against the Worker's /v1/join and admin API and against a media node's signaling:
// each must be refused with the documented status/code (HTTP) or close code (signaling).
import { SignJWT, decodeJwt } from "jose";
import { ErrorCode } from "#shared/errors.ts";
import { CloseCode } from "#shared/protocol.ts";
import { mintToken, type VideoGrant } from "#shared/token.ts";
import { SignalClient } from "../../media-node/client/signal-client.ts";
import { startCluster } from "../../infra/local/cluster.ts";
import { checker, type ScenarioResult } from "./report.ts";
import { REGION } from "./storm.ts";

const ROOM = "vault";
const enc = new TextEncoder();
const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");

export async function runTokenAttacks(): Promise<ScenarioResult> {
  const { check, result } = checker("tokens");
  const cluster = await startCluster({ regions: [REGION], nodes: [{ nodeId: "tok-n0", region: REGION.name }] });
  const node = cluster.nodes[0]!;
  const key = { apiKey: cluster.apiKey, apiSecret: cluster.apiSecret };
  const now = Math.floor(Date.now() / 1000);
  const join = (
    video: Partial<VideoGrant> = {},
    o: { secret?: string; iss?: string; now?: number; ttl?: number; identity?: string } = {},
  ) =>
    mintToken({
      apiKey: o.iss ?? key.apiKey,
      apiSecret: o.secret ?? key.apiSecret,
      identity: o.identity ?? "mallory",
      video: { roomJoin: true, room: ROOM, ...video },
      ttlSeconds: o.ttl ?? 600,
      ...(o.now !== undefined ? { now: o.now } : {}),
    });
  const good = await join();
  const [h, p, s] = good.split(".") as [string, string, string];
  const claims = decodeJwt(good);

  const http = async (path: string, token: string | undefined, body: unknown = {}, method = "POST") =>
    cluster.workerFetch(path, {
      method,
      headers: {
        "content-type": "application/json",
        ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
      },
      ...(method === "GET" ? {} : { body: JSON.stringify(body) }),
    });
  const expectHttp = async (
    name: string,
    r: Promise<{ status: number; body: unknown }>,
    status: number,
    code: string,
  ) => {
    const res = await r;
    const got = (res.body as { error?: { code?: string } })?.error?.code;
    check(`HTTP ${name}`, res.status === status && got === code, `${res.status} ${got} (want ${status} ${code})`);
  };

  await expectHttp("no token", http("/v1/join", undefined), 401, ErrorCode.Unauthorized);
  await expectHttp(
    "forged signature",
    http("/v1/join", `${h}.${p}.${s.slice(0, -4)}${s.slice(-4) === "AAAA" ? "BBBB" : "AAAA"}`),
    401,
    ErrorCode.Unauthorized,
  );
  await expectHttp(
    "payload swapped under a valid signature",
    http("/v1/join", `${h}.${b64url({ ...claims, video: { roomJoin: true, room: ROOM, roomAdmin: true } })}.${s}`),
    401,
    ErrorCode.Unauthorized,
  );
  await expectHttp(
    "signed with the wrong secret",
    http("/v1/join", await join({}, { secret: "an-attackers-secret-of-some-length" })),
    401,
    ErrorCode.Unauthorized,
  );
  await expectHttp("unknown API key", http("/v1/join", await join({}, { iss: "nobody" })), 401, ErrorCode.Unauthorized);
  await expectHttp(
    "expired",
    http("/v1/join", await join({}, { now: now - 3_600, ttl: 60 })),
    401,
    ErrorCode.Unauthorized,
  );
  const future = await new SignJWT({ video: { roomJoin: true, room: ROOM } })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer(key.apiKey)
    .setSubject("mallory")
    .setNotBefore(now + 3_600)
    .setExpirationTime(now + 7_200)
    .sign(enc.encode(key.apiSecret));
  await expectHttp("not yet valid (nbf in an hour)", http("/v1/join", future), 401, ErrorCode.Unauthorized);
  await expectHttp(
    "alg none",
    http("/v1/join", `${b64url({ alg: "none", typ: "JWT" })}.${p}.`),
    401,
    ErrorCode.Unauthorized,
  );
  const hs512 = await new SignJWT({ video: { roomJoin: true, room: ROOM } })
    .setProtectedHeader({ alg: "HS512" })
    .setIssuer(key.apiKey)
    .setSubject("mallory")
    .setExpirationTime(now + 600)
    .sign(enc.encode(key.apiSecret));
  await expectHttp("alg confusion (HS512 with the right secret)", http("/v1/join", hs512), 401, ErrorCode.Unauthorized);
  await expectHttp(
    "alg confusion (RS256 header on an HMAC signature)",
    http("/v1/join", `${b64url({ alg: "RS256", typ: "JWT" })}.${p}.${s}`),
    401,
    ErrorCode.Unauthorized,
  );
  await expectHttp(
    "wrong room in the body",
    http("/v1/join", good, { room: "another-room" }),
    403,
    ErrorCode.Forbidden,
  );
  await expectHttp("no roomJoin grant", http("/v1/join", await join({ roomJoin: false })), 403, ErrorCode.Forbidden);
  await expectHttp("identity mismatch", http("/v1/join", good, { identity: "alice" }), 403, ErrorCode.Forbidden);
  const viewer = await join({ canPublish: false });
  await expectHttp(
    "grant escalation (canPublish on a viewer token)",
    http("/v1/join", viewer, { grants: { canPublish: true } }),
    403,
    ErrorCode.Forbidden,
  );
  await expectHttp(
    "grant escalation (hidden)",
    http("/v1/join", good, { grants: { hidden: true } }),
    403,
    ErrorCode.Forbidden,
  );
  await expectHttp(
    "admin call with a join token (create room)",
    http("/v1/rooms", good, { name: "x" }),
    403,
    ErrorCode.Forbidden,
  );
  await expectHttp(
    "admin call with a join token (list rooms)",
    http("/v1/rooms", good, undefined, "GET"),
    403,
    ErrorCode.Forbidden,
  );
  await expectHttp(
    "admin call with a join token (delete room)",
    http(`/v1/rooms/${ROOM}`, good, undefined, "DELETE"),
    403,
    ErrorCode.Forbidden,
  );
  const scopedAdmin = await mintToken({
    ...key,
    identity: "ops",
    video: { roomAdmin: true, room: "other-room" },
    ttlSeconds: 600,
  });
  await expectHttp(
    "roomAdmin for another room",
    http(`/v1/rooms/${ROOM}/participants`, scopedAdmin, undefined, "GET"),
    403,
    ErrorCode.Forbidden,
  );
  const media = (await http("/v1/join", good)).body as { token: string; url: string };
  await expectHttp(
    "media token used as an admin token",
    http("/v1/rooms", media.token, undefined, "GET"),
    403,
    ErrorCode.Forbidden,
  );

  // ---- signaling on the media node ----
  /** `want`: the close code, or "any" refusal code (4400–4999) where the node may answer with
   * its own or the bridge's code. */
  const refused = async (
    name: string,
    token: string | undefined,
    want: number | "any",
    joinData: { token?: string; room?: string } = {},
  ) => {
    let code = -1;
    let joined = false;
    try {
      const c = await SignalClient.open(node.signalUrl, token);
      await c
        .request("join", joinData, 5_000)
        .then(() => (joined = true))
        .catch(() => undefined);
      code = (
        await Promise.race([c.closed, new Promise<{ code: number }>((r) => setTimeout(() => r({ code: -1 }), 5_000))])
      ).code;
      if (joined) c.close();
    } catch {
      code = -2;
    }
    const codeOk = want === "any" ? code >= 4400 && code <= 4999 : code === want;
    check(
      `signaling ${name}`,
      !joined && codeOk,
      `${joined ? "JOINED" : "refused"}, close ${code} (want ${want === "any" ? "4400–4999" : want})`,
    );
  };
  const mediaFor = (
    video: Partial<VideoGrant>,
    meridian: { node: string; region: string } | undefined,
    o: { secret?: string; now?: number; ttl?: number } = {},
  ) =>
    mintToken({
      apiKey: key.apiKey,
      apiSecret: o.secret ?? key.apiSecret,
      identity: "mallory",
      video: { roomJoin: true, room: ROOM, ...video },
      ...(meridian ? { meridian } : {}),
      ttlSeconds: o.ttl ?? 600,
      ...(o.now !== undefined ? { now: o.now } : {}),
    });
  const here = { node: node.nodeId, region: node.region };
  await refused("no token", undefined, CloseCode.Unauthorized);
  await refused(
    "forged signature",
    `${media.token.slice(0, -4)}${media.token.endsWith("AAAA") ? "BBBB" : "AAAA"}`,
    CloseCode.Unauthorized,
  );
  await refused(
    "wrong secret",
    await mediaFor({}, here, { secret: "an-attackers-secret-of-some-length" }),
    CloseCode.Unauthorized,
  );
  await refused("expired", await mediaFor({}, here, { now: now - 3_600, ttl: 60 }), CloseCode.Unauthorized);
  await refused(
    "alg none",
    `${b64url({ alg: "none", typ: "JWT" })}.${media.token.split(".")[1]}.`,
    CloseCode.Unauthorized,
  );
  await refused("app token without the meridian claim", good, CloseCode.Forbidden);
  await refused("media token for another room (join names the room)", media.token, CloseCode.Forbidden, {
    room: "another-room",
  });
  // A room Redis maps to this node is served here even when the token names another node (tokens
  // minted before a failover), so the attack is a token for an unplaced room on a made-up node.
  await refused(
    "media token naming a node that does not exist (unplaced room)",
    await mediaFor({ room: "unplaced-room" }, { node: "ghost-node", region: REGION.name }),
    "any",
  );
  await refused("token without roomJoin", await mediaFor({ roomJoin: false }, here), CloseCode.Forbidden);

  // A viewer's media token joins but cannot publish.
  const viewerMedia = (await http("/v1/join", viewer)).body as { token: string; url: string };
  const c = await SignalClient.open(viewerMedia.url, viewerMedia.token);
  const j = await c.request("join", {});
  // canPublishData follows canPublish (LiveKit), so a viewer gets no send transport; were one
  // granted (canPublishData: true), produce must still refuse.
  const rtpParameters = {
    codecs: [{ mimeType: "video/VP8", clockRate: 90_000, payloadType: 96 }],
    encodings: [{ ssrc: 1 }],
  };
  const send = await c
    .request("createTransport", { direction: "send" })
    .then((t) => c.request("produce", { transportId: t.transportId, kind: "video", rtpParameters }))
    .then(
      () => "allowed",
      (e: { code?: string }) => e.code ?? "error",
    );
  const grant = decodeJwt(viewerMedia.token) as { video?: VideoGrant };
  check(
    "signaling viewer cannot publish media (produce)",
    j.permissions.canPublish === false && grant.video?.canPublish === false && send === ErrorCode.Forbidden,
    `media token canPublish=${grant.video?.canPublish}; join says canPublish=${j.permissions.canPublish}; produce: ${send}`,
  );
  c.close();
  await cluster.stop();
  return result();
}
