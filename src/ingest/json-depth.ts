/**
 * JSON nesting depth, measured without recursion: a body nested thousands of levels deep would
 * otherwise overflow the stack of whatever recursive code meets it first (the parser, NUL
 * checks, hashing), at a depth that varies with V8's optimisation tiers. Real Zoho and Moodle
 * bodies are fewer than 10 levels deep; anything deeper than MAX_JSON_DEPTH is refused up front.
 */

/** Deepest accepted nesting of objects and arrays (`{"a":[1]}` is 2 levels deep). */
export const MAX_JSON_DEPTH = 64;

export function tooDeepMessage(what: string, limit = MAX_JSON_DEPTH): string {
  return `${what}: JSON nested deeper than ${limit} levels`;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/**
 * Whether JSON text nests objects/arrays deeper than `limit`: counts `{`/`[` outside strings
 * (honouring escapes). Says nothing about well-formedness, which is the parser's job.
 */
export function jsonTextTooDeep(text: string, limit = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > limit) return true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    }
  }
  return false;
}

/**
 * Whether a value nests objects/arrays deeper than `limit` (a scalar is 0 levels deep, `{}` 1).
 * Iterative, and stops as soon as the limit is passed, so a cyclic value ends too (as too deep).
 */
export function jsonValueTooDeep(value: unknown, limit = MAX_JSON_DEPTH): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const [current, depth] = item;
    if (current === null || typeof current !== 'object') continue;
    if (depth + 1 > limit) return true;
    for (const child of Object.values(current)) if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
  }
  return false;
}
