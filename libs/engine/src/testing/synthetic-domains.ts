import { seededRandom } from '../seeded-random.js';

/**
 * Small synthetic text domains with clearly different vocabulary and structure, generated
 * from a seed: what tests fine-tune adapters on and route between.
 */
export const DOMAINS = ['weather', 'recipes', 'sports', 'code', 'chemistry', 'travel'] as const;
export type Domain = (typeof DOMAINS)[number];

const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const int = (random: () => number, low: number, high: number) => low + Math.floor(random() * (high - low + 1));

const GENERATORS: Record<Domain, (r: () => number) => string> = {
  weather: (r) =>
    `on ${pick(r, ['monday', 'tuesday', 'friday', 'sunday'])} the sky over ${pick(r, ['oslo', 'lima', 'cairo', 'perth', 'quito'])} is ${pick(r, ['cloudy', 'clear', 'stormy', 'foggy'])} with ${int(r, 1, 35)} degrees and ${pick(r, ['light', 'strong', 'gusty'])} wind from the ${pick(r, ['north', 'south', 'east', 'west'])}.`,
  recipes: (r) =>
    `mix ${int(r, 1, 4)} cups of ${pick(r, ['flour', 'rice', 'oats', 'sugar'])} with ${int(r, 1, 6)} ${pick(r, ['eggs', 'apples', 'lemons'])}, stir well, then bake for ${int(r, 10, 60)} minutes at ${pick(r, ['160', '180', '200'])} degrees.`,
  sports: (r) =>
    `the ${pick(r, ['tigers', 'falcons', 'wolves', 'sharks'])} beat the ${pick(r, ['lions', 'eagles', 'bears', 'hawks'])} ${int(r, 1, 9)} to ${int(r, 0, 5)} in the ${pick(r, ['final', 'semifinal', 'derby'])}, with a late goal by number ${int(r, 2, 99)}.`,
  code: (r) => {
    const v = pick(r, ['x', 'y', 'total', 'count']);
    return `let ${v} = ${int(r, 0, 99)}; for (i = 0; i < ${int(r, 2, 20)}; i++) { ${v} ${pick(r, ['+=', '-=', '*='])} i; } print(${v});`;
  },
  chemistry: (r) =>
    `${pick(r, ['sodium', 'copper', 'iron', 'zinc'])} reacts with ${pick(r, ['chlorine', 'oxygen', 'sulfur'])} to form a ${pick(r, ['salt', 'oxide', 'sulfide'])}; the molar mass is ${int(r, 20, 300)} grams per mole.`,
  travel: (r) =>
    `the ${pick(r, ['night train', 'ferry', 'bus', 'flight'])} from ${pick(r, ['vienna', 'porto', 'seoul', 'denver'])} to ${pick(r, ['milan', 'nice', 'busan', 'austin'])} leaves at ${int(r, 1, 12)} ${pick(r, ['am', 'pm'])} from gate ${int(r, 1, 40)}.`,
};

/** `count` sentences of one domain, deterministic in (domain, seed). */
export function domainTexts(domain: Domain, count: number, seed = 0): string[] {
  const random = seededRandom(seed * 1009 + DOMAINS.indexOf(domain) + 1);
  return Array.from({ length: count }, () => GENERATORS[domain](random));
}
