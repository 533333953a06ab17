// A tiny typed event emitter, so the client library needs no DOM EventTarget
// (and runs unchanged under node in unit tests).
export class Emitter<Events extends Record<string, unknown>> {
  private listeners = new Map<keyof Events, Set<(v: never) => void>>();

  on<K extends keyof Events>(type: K, fn: (value: Events[K]) => void): () => void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(fn as (v: never) => void);
    return () => set!.delete(fn as (v: never) => void);
  }

  protected emit<K extends keyof Events>(type: K, value: Events[K]): void {
    for (const fn of [...(this.listeners.get(type) ?? [])]) {
      try {
        (fn as (v: Events[K]) => void)(value);
      } catch (err) {
        // One broken listener must not stop the others (or the socket loop).
        console.error(`veet: listener for ${String(type)} failed`, err);
      }
    }
  }
}
