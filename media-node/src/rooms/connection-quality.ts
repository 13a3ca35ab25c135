// Per-participant connection quality (LiveKit's ConnectionQuality), pure: from mediasoup's scores
// (0-10, from RTCP loss/jitter of what the participant sends — producer scores — and of what it
// receives — consumer scores) and its transports' ICE state.
import type { ConnectionQuality } from "#shared/protocol.ts";

export interface QualityInput {
  /** Scores of the participant's media streams, 0..10 (empty: it sends and receives nothing). */
  scores: readonly number[];
  /** Whether every transport it has is ICE-connected (false: disconnected/closed → lost). */
  connected: boolean;
}

/** Pure: the worst stream decides, as a call is as good as its worst direction. */
export function connectionQuality({ scores, connected }: QualityInput): { quality: ConnectionQuality; score: number } {
  if (!connected) return { quality: "lost", score: 0 };
  if (scores.length === 0) return { quality: "excellent", score: 10 };
  const score = Math.min(...scores);
  const quality: ConnectionQuality = score >= 8 ? "excellent" : score >= 5 ? "good" : score > 0 ? "poor" : "lost";
  return { quality, score };
}
