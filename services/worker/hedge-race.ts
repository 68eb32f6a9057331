// Which of a request's concurrent calls answers, when a hedge started a second one: the first to
// produce a token (or a whole response) claims the answer, and every other call is cancelled.

export class HedgeRace {
  private winner: symbol | undefined;
  private readonly contenders = new Map<symbol, AbortController>();

  join(): { id: symbol; signal: AbortSignal } {
    const id = Symbol('contender');
    const controller = new AbortController();
    this.contenders.set(id, controller);
    return { id, signal: controller.signal };
  }

  /** True when this contender owns the answer: it claimed first, now or before. */
  claim(id: symbol): boolean {
    if (this.winner === undefined) {
      this.winner = id;
      for (const [other, controller] of this.contenders) if (other !== id) controller.abort(new LostRaceError());
    }
    return this.winner === id;
  }

  /** True once some contender has claimed the answer. */
  decided(): boolean {
    return this.winner !== undefined;
  }

  lost(id: symbol): boolean {
    return this.winner !== undefined && this.winner !== id;
  }
}

export class LostRaceError extends Error {
  constructor() {
    super('another target answered first (hedged request)');
  }
}
