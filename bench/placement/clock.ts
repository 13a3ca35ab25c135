// Simulated time 0 maps to this wall-clock instant, so selectors that read epoch time (LiveKit:
// whole Unix seconds; Meridian: ms) work unchanged in simulated time.
export const SIM_EPOCH_MS = 1_800_000_000_000;

export const epochMs = (simMs: number): number => SIM_EPOCH_MS + Math.floor(simMs);
