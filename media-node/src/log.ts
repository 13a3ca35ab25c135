// One pino logger per node. Tokens and secrets never reach it: the redact list is the safety net
// for objects that carry them by accident.
import { pino, type Logger } from "pino";

export type { Logger };

export function createLogger(level: string, nodeId: string): Logger {
  return pino({
    level,
    base: { node: nodeId },
    redact: {
      paths: ["token", "*.token", "access_token", "api_keys", "apiSecret", "*.apiSecret"],
      censor: "[redacted]",
    },
  });
}
