// A perceptual sequential scale for gates in [0, 1]: viridis reversed, pale yellow at 0 to dark
// violet at 1. Its lightness falls evenly and its hue turns, so close gates stay apart, a darker
// cell always means a larger gate, and it reads the same to the common colour-blindnesses.
const STOPS: readonly (readonly [number, number, number])[] = [
  [253, 231, 37],
  [94, 201, 98],
  [33, 145, 140],
  [59, 82, 139],
  [68, 1, 84],
];

/** The cell colour of a gate, as `rgb(r, g, b)`; values outside [0, 1] are clamped. */
export function gateColour(gate: number): string {
  const at = Math.min(1, Math.max(0, gate)) * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(at));
  const t = at - i;
  const [r, g, b] = STOPS[i]!.map((low, c) => Math.round(low + (STOPS[i + 1]![c]! - low) * t));
  return `rgb(${r}, ${g}, ${b})`;
}
