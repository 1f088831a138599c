// Another process's doing at one call of a built-in module's function (a folder removed between
// the mkdir that found it and the look at it), for races no real process loses on demand (not a
// test file).

// biome-ignore lint/suspicious/noExplicitAny: any function of a module, whatever it takes
type Fn = (...args: any[]) => any;
type FunctionKeys<M> = { [K in keyof M]: M[K] extends Fn ? K : never }[keyof M];

/** Which calls of a function {@link atCall} acts at, when, and what it does there. */
export interface Race<A extends unknown[]> {
  /** Picks a call by its arguments. */
  at: (...args: A) => boolean;
  /** What the other process does, at the `n`th call picked (from 1). */
  does?: (n: number) => void;
  /** Before the call (the default), once it `returned`, or once it failed with this errno code (`EEXIST`). */
  when?: 'before' | 'returned' | `E${string}`;
  /** At how many of the calls picked it acts: 1 unless told. */
  times?: number;
}

/**
 * Runs `body` while `module[name]` does `race.does` at the calls `race.at` picks, and puts the
 * function back when `body` settles. `module` is the object `process.getBuiltinModule` gives,
 * which src reads its functions from at each call, so the code under test meets the race. Gives
 * `body`'s value and at how many calls the race acted, for the test to assert it came.
 */
export async function atCall<M extends object, K extends FunctionKeys<M>, T>(
  module: M,
  name: K,
  race: Race<M[K] extends Fn ? Parameters<M[K]> : never>,
  body: () => Promise<T>,
): Promise<{ value: T; calls: number }> {
  const original = module[name] as Fn;
  const { when = 'before', times = 1 } = race;
  let calls = 0;
  const act = () => {
    calls++;
    race.does?.(calls);
  };
  const picks = race.at as Fn;
  const replacement = function (this: unknown, ...args: unknown[]) {
    if (calls >= times || !picks(...args)) return original.apply(this, args);
    if (when === 'before') {
      act();
      return original.apply(this, args);
    }
    const failed = (err: unknown) => {
      if (calls < times && (err as NodeJS.ErrnoException).code === when) act();
      throw err;
    };
    const returned = <R>(value: R): R => {
      if (when === 'returned' && calls < times) act();
      return value;
    };
    let result: unknown;
    try {
      result = original.apply(this, args);
    } catch (err) {
      failed(err);
    }
    return result instanceof Promise ? result.then(returned, failed) : returned(result);
  };
  module[name] = replacement as M[K];
  try {
    return { value: await body(), calls };
  } finally {
    module[name] = original as M[K];
  }
}
