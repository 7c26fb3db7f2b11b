// A sequential scale for gates in [0, 1]: pale at 0, the accent's dark blue at 1, so a
// darker cell always means a larger gate (colour-blind safe: only lightness changes order).
const LOW = [241, 243, 249];
const HIGH = [28, 63, 170];

/** The cell colour of a gate, as `rgb(r, g, b)`; values outside [0, 1] are clamped. */
export function gateColour(gate: number): string {
  const t = Math.min(1, Math.max(0, gate));
  const [r, g, b] = LOW.map((low, i) => Math.round(low + (HIGH[i]! - low) * t));
  return `rgb(${r}, ${g}, ${b})`;
}
