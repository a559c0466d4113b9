import { describe, expect, it } from 'vitest';
import {
  achievedFromScore,
  btecGradeFromPercent,
  isPassOrBetter,
  parseBtecLetter,
  percentFromMoodle,
} from '../../src/ingest/btec.js';
import { IngestInputError } from '../../src/ingest/record.js';

describe('btecGradeFromPercent', () => {
  it.each([
    [100, 'DISTINCTION'],
    [70, 'DISTINCTION'],
    [69.99, 'MERIT'],
    [60, 'MERIT'],
    [59.99, 'PASS'],
    [40, 'PASS'],
    [39.99, 'REFER'],
    [0, 'REFER'],
  ])('%d%% → %s', (percent, grade) => {
    expect(btecGradeFromPercent(percent)).toBe(grade);
  });

  it('rejects a value that is not a number', () => {
    expect(() => btecGradeFromPercent(Number.NaN, 'user_graded')).toThrow(IngestInputError);
    expect(() => btecGradeFromPercent(Number.NaN, 'user_graded')).toThrow(/^user_graded: expected a percentage/);
  });
});

describe('percentFromMoodle', () => {
  it('is (finalgrade − grademin) / (grademax − grademin) × 100', () => {
    expect(percentFromMoodle(78.5, 0, 100)).toBe(78.5);
    expect(percentFromMoodle(15, 10, 20)).toBe(50);
  });

  it('gives exact percentages for exact ratios (no 69.999… at a band edge)', () => {
    expect(percentFromMoodle(14, 0, 20)).toBe(70);
    expect(percentFromMoodle(12, 0, 20)).toBe(60);
    expect(percentFromMoodle(0.7, 0, 1)).toBe(70);
  });

  it('clamps to 0–100', () => {
    expect(percentFromMoodle(120, 0, 100)).toBe(100);
    expect(percentFromMoodle(-5, 0, 100)).toBe(0);
    expect(percentFromMoodle(5, 10, 20)).toBe(0);
  });

  it('fails clearly when the grade has no range', () => {
    expect(() => percentFromMoodle(5, 10, 10, 'user_graded')).toThrow(IngestInputError);
    expect(() => percentFromMoodle(5, 10, 10, 'user_graded')).toThrow(
      'user_graded: grademax equals grademin (10): the grade has no range, so no percentage can be computed',
    );
    expect(() => percentFromMoodle(5, 20, 10, 'user_graded')).toThrow(/grademax \(10\) is below grademin \(20\)/);
    expect(() => percentFromMoodle(Number.NaN, 0, 100, 'user_graded')).toThrow(/finalgrade must be a finite number/);
  });
});

describe('parseBtecLetter', () => {
  it.each([
    ['Distinction', 'DISTINCTION'],
    ['DISTINCTION', 'DISTINCTION'],
    ['d', 'DISTINCTION'],
    ['Merit', 'MERIT'],
    ['M', 'MERIT'],
    ['pass', 'PASS'],
    [' P ', 'PASS'],
    ['Refer', 'REFER'],
    ['R', 'REFER'],
    ['U', 'REFER'],
    ['u', 'REFER'],
    ['Unclassified', 'REFER'],
    ['UNCLASSIFIED', 'REFER'],
  ])('%j → %s', (letter, grade) => {
    expect(parseBtecLetter(letter)).toBe(grade);
  });

  it.each(['Fail', 'A*', '', 'Distinction*'])('rejects %j naming where it came from', (letter) => {
    expect(() => parseBtecLetter(letter, 'BTEC_Grades.Grade')).toThrow(IngestInputError);
    expect(() => parseBtecLetter(letter, 'BTEC_Grades.Grade')).toThrow(
      `BTEC_Grades.Grade: expected Distinction, Merit, Pass or Refer (also D, M, P, R, U or Unclassified), got ${JSON.stringify(letter)}`,
    );
  });

  it('rejects non-strings', () => {
    expect(() => parseBtecLetter(3)).toThrow('Grade: expected Distinction, Merit, Pass or Refer (also D, M, P, R, U or Unclassified), got 3');
    expect(() => parseBtecLetter(null)).toThrow(/got null$/);
  });

  it('carries the field on the error', () => {
    try {
      parseBtecLetter('X', 'BTEC_Grades.Grade');
      expect.unreachable();
    } catch (error) {
      expect((error as IngestInputError).field).toBe('Grade');
    }
  });
});

describe('isPassOrBetter', () => {
  it('is true for PASS, MERIT and DISTINCTION only', () => {
    expect(['DISTINCTION', 'MERIT', 'PASS', 'REFER', null].map((g) => isPassOrBetter(g as never))).toEqual([
      true,
      true,
      true,
      false,
      false,
    ]);
  });
});

describe('achievedFromScore', () => {
  it.each([
    ['P', true],
    ['m', true],
    ['D', true],
    ['Pass', true],
    ['Achieved', true],
    ['Met', true],
    ['yes', true],
    ['75', true],
    ['40', true],
    ['39.5', false],
    ['R', false],
    ['U', false],
    ['Not Achieved', false],
    ['Not yet', false],
    ['', false],
    [null, false],
  ])('%j → %s', (score, achieved) => {
    expect(achievedFromScore(score)).toBe(achieved);
  });
});
