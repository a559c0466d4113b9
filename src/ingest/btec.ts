import { IngestInputError } from './record.js';

/** The Prisma `BtecGrade` enum values, best first. */
export const BTEC_GRADES = ['DISTINCTION', 'MERIT', 'PASS', 'REFER'] as const;
export type BtecGrade = (typeof BTEC_GRADES)[number];

/** Lowest percentage of each band (DESIGN.md "BTEC grades"); below PASS is REFER. */
export const BTEC_BAND_MINIMUM = { DISTINCTION: 70, MERIT: 60, PASS: 40 } as const;

const LETTERS: Readonly<Record<string, BtecGrade>> = {
  distinction: 'DISTINCTION',
  d: 'DISTINCTION',
  merit: 'MERIT',
  m: 'MERIT',
  pass: 'PASS',
  p: 'PASS',
  refer: 'REFER',
  r: 'REFER',
  u: 'REFER',
  unclassified: 'REFER',
};

/** `where` prefixes error messages, e.g. `BTEC_Grades.Grade` or `user_graded`. */
function fail(where: string, message: string, field?: string): never {
  throw new IngestInputError(`${where}: ${message}`, field);
}

export function btecGradeFromPercent(percent: number, where = 'score'): BtecGrade {
  if (!Number.isFinite(percent)) fail(where, `expected a percentage, got ${String(percent)}`);
  if (percent >= BTEC_BAND_MINIMUM.DISTINCTION) return 'DISTINCTION';
  if (percent >= BTEC_BAND_MINIMUM.MERIT) return 'MERIT';
  if (percent >= BTEC_BAND_MINIMUM.PASS) return 'PASS';
  return 'REFER';
}

/** (finalgrade − grademin) / (grademax − grademin) × 100, clamped to 0–100. */
export function percentFromMoodle(
  finalgrade: number,
  grademin: number,
  grademax: number,
  where = 'Moodle grade',
): number {
  const values = { finalgrade, grademin, grademax };
  for (const [name, value] of Object.entries(values)) {
    if (!Number.isFinite(value)) fail(where, `${name} must be a finite number, got ${String(value)}`, name);
  }
  if (grademax === grademin) {
    fail(where, `grademax equals grademin (${grademax}): the grade has no range, so no percentage can be computed`, 'grademax');
  }
  if (grademax < grademin) {
    fail(where, `grademax (${grademax}) is below grademin (${grademin})`, 'grademax');
  }
  // Multiply before dividing so exact ratios (14/20) give exact percentages (70, not 69.999…).
  const percent = ((finalgrade - grademin) * 100) / (grademax - grademin);
  return Math.min(100, Math.max(0, percent));
}

export function parseBtecLetter(value: unknown, where = 'Grade'): BtecGrade {
  const grade = typeof value === 'string' ? LETTERS[value.trim().toLowerCase()] : undefined;
  if (grade) return grade;
  const shown = value === undefined ? 'nothing' : JSON.stringify(value);
  return fail(
    where,
    `expected Distinction, Merit, Pass or Refer (also D, M, P, R, U or Unclassified), got ${shown}`,
    where.split('.').pop(),
  );
}

export function isPassOrBetter(grade: BtecGrade | null | undefined): boolean {
  return grade === 'DISTINCTION' || grade === 'MERIT' || grade === 'PASS';
}

const ACHIEVED_WORDS = new Set(['achieved', 'met', 'yes', 'y', 'true']);

// A criterion is achieved when its score is a pass-or-better mark: a BTEC letter P/M/D (or the word), "Achieved"/"Met"/"Yes", or a number ≥ 40 (the PASS band).
export function achievedFromScore(score: string | null): boolean {
  if (score === null) return false;
  const text = score.trim().toLowerCase();
  if (ACHIEVED_WORDS.has(text)) return true;
  if (/^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(text)) return Number(text) >= BTEC_BAND_MINIMUM.PASS;
  return isPassOrBetter(LETTERS[text]);
}
