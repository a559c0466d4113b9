import { DateTimeResolver, JSONResolver } from 'graphql-scalars';
import { createGraphQLError } from 'graphql-yoga';
import { builder } from '../builder.js';
import { formatMoney } from '../money.js';

builder.addScalarType('DateTime', DateTimeResolver);
builder.addScalarType('JSON', JSONResolver);

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

builder.scalarType('Date', {
  description: 'A calendar date, `YYYY-MM-DD`.',
  serialize: (value) => value.toISOString().slice(0, 10),
  parseValue: (value) => {
    if (typeof value === 'string' && ISO_DATE.test(value)) {
      const date = new Date(`${value}T00:00:00Z`);
      if (!Number.isNaN(date.getTime()) && date.toISOString().startsWith(value)) return date;
    }
    throw createGraphQLError(`Date must be YYYY-MM-DD, got ${JSON.stringify(value)}`);
  },
});

builder.scalarType('Decimal', {
  description: 'An exact amount of money, serialized as a string with two decimals (`"1500.00"`).',
  serialize: (value) => formatMoney(value),
  parseValue: (value) => {
    if (typeof value === 'string' && /^-?\d+(\.\d{1,2})?$/.test(value)) return value;
    throw createGraphQLError(`Decimal must be a string like "1500.00", got ${JSON.stringify(value)}`);
  },
});
