import { builder } from '../builder.js';
import { PaymentStatus } from '../generated/prisma/enums.js';
import { formatCents, sumCents } from '../money.js';
import { livePayments, liveRegistrations } from './live.js';

export const PaymentStatusEnum = builder.enumType(PaymentStatus, { name: 'PaymentStatus' });

export const Payment = builder.prismaObject('Payment', {
  fields: (t) => ({
    id: t.exposeID('id'),
    zohoId: t.exposeString('zohoId', { nullable: true }),
    name: t.exposeString('name', { nullable: true }),
    amount: t.expose('amount', { type: 'Decimal' }),
    currency: t.exposeString('currency', { nullable: true }),
    status: t.expose('status', { type: PaymentStatusEnum }),
    dueDate: t.expose('dueDate', { type: 'Date', nullable: true }),
    paidAt: t.expose('paidAt', { type: 'Date', nullable: true }),
    method: t.exposeString('method', { nullable: true }),
    reference: t.exposeString('reference', { nullable: true }),
  }),
});

/** Registrations whose fees are owed: every one except withdrawn or cancelled ones. */
const FEE_BEARING = (status: string) => !/^(withdrawn|cancell?ed)$/i.test(status);

interface PaymentFacts {
  status: PaymentStatus;
  dueDate: Date | null;
}

function startOfTodayUtc(now = new Date()) {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
}

/** Unpaid and past due: OVERDUE, or PENDING with a due date before today (UTC). */
export function isOverdue(payment: PaymentFacts, today = startOfTodayUtc()) {
  return payment.status === 'OVERDUE' || (payment.status === 'PENDING' && payment.dueDate !== null && payment.dueDate < today);
}

/** The earliest PENDING payment due today or later. */
export function nextDue<P extends PaymentFacts>(payments: readonly P[], today = startOfTodayUtc()): P | null {
  let next: P | null = null;
  for (const p of payments) {
    if (p.status !== 'PENDING' || (p.dueDate !== null && p.dueDate < today)) continue;
    if (!next || (p.dueDate ?? Infinity) < (next.dueDate ?? Infinity)) next = p;
  }
  return next;
}

const feesSelection = { registrations: { ...liveRegistrations, select: { status: true, totalFees: true, currency: true } } };
const paymentsSelection = { payments: { ...livePayments, select: { status: true, amount: true, dueDate: true, currency: true } } };

export const Finance = builder.prismaObject('Student', {
  variant: 'Finance',
  description:
    'Fees and payments. totalFees: fees of registrations not withdrawn; totalPaid: PAID payments; balance = totalFees − totalPaid; overdueAmount: OVERDUE, or PENDING past due; nextDue: earliest PENDING payment not yet due.',
  fields: (t) => ({
    currency: t.string({
      nullable: true,
      select: { ...feesSelection, ...paymentsSelection },
      resolve: (s) => s.registrations.find((r) => r.currency)?.currency ?? s.payments.find((p) => p.currency)?.currency ?? null,
    }),
    totalFees: t.field({
      type: 'Decimal',
      select: feesSelection,
      resolve: (s) => formatCents(sumCents(s.registrations.filter((r) => FEE_BEARING(r.status)), (r) => r.totalFees)),
    }),
    totalPaid: t.field({
      type: 'Decimal',
      select: paymentsSelection,
      resolve: (s) => formatCents(sumCents(s.payments.filter((p) => p.status === 'PAID'), (p) => p.amount)),
    }),
    balance: t.field({
      type: 'Decimal',
      select: { ...feesSelection, ...paymentsSelection },
      resolve: (s) =>
        formatCents(
          sumCents(s.registrations.filter((r) => FEE_BEARING(r.status)), (r) => r.totalFees) -
            sumCents(s.payments.filter((p) => p.status === 'PAID'), (p) => p.amount),
        ),
    }),
    overdueAmount: t.field({
      type: 'Decimal',
      select: paymentsSelection,
      resolve: (s) => formatCents(sumCents(s.payments.filter((p) => isOverdue(p)), (p) => p.amount)),
    }),
    nextDue: t.field({
      type: Payment,
      nullable: true,
      select: (_args, _ctx, nestedSelection) => ({ payments: nestedSelection(livePayments) }),
      resolve: (s) => nextDue(s.payments),
    }),
    payments: t.relation('payments', { query: livePayments }),
  }),
});
