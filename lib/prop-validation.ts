/**
 * Synth-time checks of construct props: each failure names the prop, the value it got and how to fix it,
 * so a wrong `cdk.json` value stops `cdk synth` with a sentence instead of a failed deployment.
 */
import { Token } from "aws-cdk-lib";

/** A construct or stack prop that cannot be deployed as given. */
export class InvalidPropError extends Error {
  /** The prop (or context key) at fault. */
  readonly prop: string;

  constructor(prop: string, message: string) {
    super(`${prop}: ${message}`);
    this.name = "InvalidPropError";
    this.prop = prop;
  }
}

/** Bounds of an integer prop; both inclusive. */
export interface IntegerBounds {
  readonly min: number;
  readonly max?: number;
}

/** Throws unless `value` is an integer within `bounds`; unresolved tokens are left to CloudFormation. */
export function assertInteger(prop: string, value: number, bounds: IntegerBounds): void {
  if (Token.isUnresolved(value)) return;
  const range = bounds.max === undefined ? `≥ ${bounds.min}` : `between ${bounds.min} and ${bounds.max}`;
  if (!Number.isInteger(value) || value < bounds.min || (bounds.max !== undefined && value > bounds.max)) {
    throw new InvalidPropError(prop, `got ${String(value)}; set a whole number ${range}.`);
  }
}

/** Throws unless `value` is a finite number > 0. */
export function assertPositive(prop: string, value: number): void {
  if (Token.isUnresolved(value)) return;
  if (!Number.isFinite(value) || value <= 0) {
    throw new InvalidPropError(prop, `got ${String(value)}; set a number greater than 0.`);
  }
}

/** Throws unless `value` matches `pattern`; `rule` says in words what the pattern allows. */
export function assertMatches(prop: string, value: string, pattern: RegExp, rule: string): void {
  if (Token.isUnresolved(value)) return;
  if (!pattern.test(value)) {
    throw new InvalidPropError(prop, `got ${JSON.stringify(value)}; ${rule}.`);
  }
}

/** Throws when exactly one of two props that only work together is set. */
export function assertBothOrNeither(
  first: { readonly prop: string; readonly value: string | undefined },
  second: { readonly prop: string; readonly value: string | undefined },
): void {
  if ((first.value === undefined) === (second.value === undefined)) return;
  const [given, missing] = first.value === undefined ? [second, first] : [first, second];
  throw new InvalidPropError(
    missing.prop,
    `${given.prop} is set but ${missing.prop} is not; set both (or neither) of ${first.prop} and ${second.prop}.`,
  );
}
