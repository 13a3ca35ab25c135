import type { Context } from "hono";
import type { CfLocation } from "../../../shared/selector/reference.ts";

/** Cloudflare's request.cf (client location); absent outside Workers. */
export function cfOf(c: Context): CfLocation | undefined {
  return (c.req.raw as Request & { cf?: CfLocation }).cf;
}
