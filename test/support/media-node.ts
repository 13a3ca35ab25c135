// A real media node as a child process (infra/local/media-node.ts) with the test API key, and
// token minting with that key.
import type { Redis } from "ioredis";
import { keys } from "#shared/keys.ts";
import { NodeRecord } from "#shared/node.ts";
import type { VideoGrant } from "#shared/token.ts";
import {
  MediaNodeChild,
  mintMediaToken,
  type MediaNodeChildOptions,
  type TokenOptions,
} from "../../infra/local/media-node.ts";

export { mediasoupWorkerAvailable, type Exit, type TokenOptions } from "../../infra/local/media-node.ts";
export { waitFor } from "../../infra/local/wait.ts";

export const API_KEY = "test-key";
export const API_SECRET = "test-secret-that-is-long-enough-for-hs256";
const TEST_KEY = { apiKey: API_KEY, apiSecret: API_SECRET };

export type MediaNodeProcessOptions = Omit<MediaNodeChildOptions, "apiKey" | "apiSecret">;

/** infra/local's media node child, keyed with the test API key. */
export type MediaNodeProcess = MediaNodeChild;
export const MediaNodeProcess = {
  start: (o: MediaNodeProcessOptions = {}): Promise<MediaNodeProcess> => MediaNodeChild.start({ ...TEST_KEY, ...o }),
};

export function mediaToken(
  identity: string,
  room: string,
  video: Partial<VideoGrant> = {},
  o: TokenOptions = {},
): Promise<string> {
  return mintMediaToken(TEST_KEY, identity, room, video, o);
}

/** The node's record in Redis, or null once it is gone. */
export async function readNodeRecord(redis: Redis, nodeId: string): Promise<NodeRecord | null> {
  const raw = await redis.get(keys.node(nodeId));
  return raw === null ? null : NodeRecord.parse(JSON.parse(raw));
}
