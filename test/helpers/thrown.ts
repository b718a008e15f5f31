/** What a call threw or a promise rejected with, failing the test when it did not (or threw another type). */

/** Any error class, whatever its constructor takes. */
type ErrorClass<E> = abstract new (...args: never[]) => E;

/** The error of `type` that `fn` throws; rethrows any other error, fails if nothing is thrown. */
export function thrownBy<E>(fn: () => unknown, type: ErrorClass<E>): E {
  try {
    fn();
  } catch (error) {
    if (error instanceof type) return error;
    throw error;
  }
  throw new Error(`expected ${type.name} to be thrown, but nothing was thrown`);
}

/** What `promise` rejects with; fails if it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection, but the promise resolved");
}

/** The error of `type` that `promise` rejects with; fails if it resolves or rejects with something else. */
export async function rejectedWith<E>(promise: Promise<unknown>, type: ErrorClass<E>): Promise<E> {
  const error = await rejectionOf(promise);
  if (error instanceof type) return error;
  throw error;
}
