// What a signal node tells the hosting node about a bridged client instead of forwarding its media
// token: the claims of the token, which the signal node verified. The bridge envelope that carries
// them is authenticated as from the signal node (shared/bus.ts), so the token never crosses the
// bus and a Redis credential is not enough to forge a join. The hosting node applies the same
// rules to these claims as to a token of its own client (signaling.ts joinParamsFromClaims: room,
// identity, grants, media claim) and refuses expired ones.
import { z } from "zod";
import { CLOCK_LEEWAY_S, TokenClaims } from "#shared/token.ts";

const Assertion = z.strictObject({
  v: z.literal(1),
  // Metadata is not needed to join and can be 64 KiB: left out.
  claims: TokenClaims.omit({ metadata: true }),
});

/** Pure: the assertion of verified claims, as the bridge carries it. */
export function encodeAssertion(claims: TokenClaims): string {
  const { metadata: _, ...rest } = claims;
  return JSON.stringify({ v: 1, claims: rest });
}

/** Pure: the claims of an assertion, or why it is refused (malformed, or the token it stands for
 * has expired). */
export function decodeAssertion(raw: string, nowS = Date.now() / 1000): { claims: TokenClaims } | { error: string } {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { error: "malformed join assertion" };
  }
  const parsed = Assertion.safeParse(json);
  if (!parsed.success) return { error: "malformed join assertion" };
  const claims = parsed.data.claims;
  if (claims.exp + CLOCK_LEEWAY_S < nowS) return { error: "join assertion expired" };
  return { claims };
}
