/**
 * Money as integer cents (bigint): exact sums without a decimal library. Accepts what
 * Prisma returns for Decimal columns (a Decimal.js object), strings and numbers.
 */
export type MoneyInput = { toFixed(digits: number): string } | string | number | bigint;

export function toCents(value: MoneyInput | null | undefined): bigint {
  if (value === null || value === undefined) return 0n;
  if (typeof value === 'bigint') return value;
  const text = typeof value === 'string' ? Number(value).toFixed(2) : value.toFixed(2);
  const match = /^(-?)(\d+)\.(\d{2})$/.exec(text);
  if (!match) throw new Error(`not an amount of money: ${String(value)}`);
  const cents = BigInt(match[2]!) * 100n + BigInt(match[3]!);
  return match[1] ? -cents : cents;
}

export function formatCents(cents: bigint): string {
  const sign = cents < 0n ? '-' : '';
  const abs = cents < 0n ? -cents : cents;
  return `${sign}${abs / 100n}.${(abs % 100n).toString().padStart(2, '0')}`;
}

export function formatMoney(value: MoneyInput): string {
  return formatCents(toCents(value));
}

export function sumCents<T>(items: readonly T[], amount: (item: T) => MoneyInput | null | undefined): bigint {
  return items.reduce((total, item) => total + toCents(amount(item)), 0n);
}
