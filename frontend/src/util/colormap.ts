/** Colormaps matching OpenCV's (the server's overlays use them), as 256-entry RGB tables. */

function table(f: (t: number) => [number, number, number]): Uint8Array {
  const out = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const [r, g, b] = f(i / 255);
    out[3 * i] = Math.round(255 * Math.min(1, Math.max(0, r)));
    out[3 * i + 1] = Math.round(255 * Math.min(1, Math.max(0, g)));
    out[3 * i + 2] = Math.round(255 * Math.min(1, Math.max(0, b)));
  }
  return out;
}

// OpenCV COLORMAP_JET: piecewise-linear blue -> cyan -> yellow -> red.
const jet = table((t) => [
  Math.min(4 * t - 1.5, -4 * t + 4.5),
  Math.min(4 * t - 0.5, -4 * t + 3.5),
  Math.min(4 * t + 0.5, -4 * t + 2.5),
]);

// A compact viridis approximation (polynomial fit), for activation channels.
const viridis = table((t) => [
  0.2777 + t * (0.1050 + t * (-0.3308 + t * (-4.6342 + t * (6.2283 + t * (4.7763 - 5.4354 * t))))),
  0.0054 + t * (1.4046 + t * (0.2148 + t * (-5.7991 + t * (14.1799 + t * (-13.7451 + 4.6459 * t))))),
  0.3341 + t * (1.3846 + t * (0.0951 + t * (-19.3324 + t * (56.6906 + t * (-65.3530 + 26.3124 * t))))),
]);

const grey = table((t) => [t, t, t]);

export const COLORMAPS: Record<string, Uint8Array> = { jet, viridis, grey };
