// Small helpers for route definitions.
import { ErrorBody } from "./schemas.ts";

const DESCRIPTIONS: Record<number, string> = {
  400: "invalid request (code bad_request)",
  401: "missing, malformed, forged or expired token (code unauthorized)",
  403: "token lacks the needed grant (code forbidden)",
  404: "no such room (code not_found)",
  409: "room already exists (code conflict)",
  429: "the API key already has ROOMS_PER_API_KEY rooms (code quota_exceeded)",
  503:
    "retryable: Redis unreachable (redis_unavailable), no media node available (no_available_nodes), or the node " +
    "registry re-syncing after a Redis restart (registry_warming, with Retry-After)",
};

export function errorResponses(...statuses: (400 | 401 | 403 | 404 | 409 | 429 | 503)[]) {
  return Object.fromEntries(
    statuses.map((s) => [s, { description: DESCRIPTIONS[s]!, content: { "application/json": { schema: ErrorBody } } }]),
  );
}

export const json = <T>(schema: T, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

export const bearerSecurity = [{ bearer: [] as string[] }];
