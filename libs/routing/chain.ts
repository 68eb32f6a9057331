// Expands a request's route into the ordered chain of targets its attempts walk: the primary's
// weighted target group, then the fallbacks in order, each alias among them expanded in place
// (its targets, then its own fallbacks), every target at most once, alias cycles cut. Context-
// window and content-policy failures switch to their own chains, expanded the same way.
//
// Decisions where the issue is silent:
// - A request's own `fallbacks` REPLACE the alias's fallbacks (the caller asked for that order;
//   naming the alias itself in the list brings its chain back). An empty list changes nothing —
//   turning fallback off is the explicit `noFallback` flag, which also drops the context and
//   content chains and leaves only the primary group.
// - An alias named among another alias's `targets` contributes its targets to the weighted group
//   (weights scaled so the inner alias keeps its outer share), not its fallbacks.
// - Names resolve like the provider registry: an alias first, then "provider/model" when the
//   prefix is a configured provider, then the first provider whose model patterns match.
import { matchesModel } from '#libs/providers/model-pattern.ts';
import type { PoolKey } from './key-pool.ts';
import type { Alias, RoutingConfig } from './policy-schema.ts';

export interface Target {
  /** "provider/model": the name in logs, metrics and the health maps. */
  id: string;
  provider: string;
  /** The model as the provider knows it. */
  model: string;
}

export interface WeightedTarget {
  target: Target;
  weight: number;
}

export interface ChainStep {
  /** The route name that put this step in the chain (an alias or a model), for logs. */
  via: string;
  targets: WeightedTarget[];
}

export type Lane = 'main' | 'context' | 'content';

export interface Chain {
  /** The alias the request named, when it named one: its policy governs the whole request. */
  alias?: string;
  main: ChainStep[];
  context: ChainStep[];
  content: ChainStep[];
  /** Route names that matched no alias and no provider; the lead decides whether that is a 404. */
  unresolved: string[];
}

export interface ProviderLike {
  models: string[];
  keys?: readonly PoolKey[];
}

export interface ChainConfig extends RoutingConfig {
  providers: Readonly<Record<string, ProviderLike>>;
}

export interface RouteRequest {
  /** The model or alias the request named. */
  model: string;
  /** Per-request fallbacks from the body; when non-empty they replace the alias's. */
  fallbacks?: readonly string[];
  /** Per-request switch (a header): no fallback of any kind, only the primary group. */
  noFallback?: boolean;
}

export function expandChain(route: RouteRequest, config: ChainConfig): Chain {
  const aliases = config.models ?? {};
  const unresolved = new Set<string>();
  const primaryAlias = Object.hasOwn(aliases, route.model) ? aliases[route.model] : undefined;

  const primary = new Expansion(config, unresolved);
  primary.addGroup(route.model);
  const chain: Chain = { main: primary.steps, context: [], content: [], unresolved: [] };
  if (primaryAlias) chain.alias = route.model;

  if (!route.noFallback) {
    const requested = route.fallbacks ?? [];
    const fallbacks = requested.length > 0 ? requested : (primaryAlias?.fallbacks ?? []);
    for (const name of fallbacks) primary.addChain(name);
    chain.context = expandList(primaryAlias?.contextFallbacks ?? [], config, unresolved);
    chain.content = expandList(primaryAlias?.contentFallbacks ?? [], config, unresolved);
  }
  chain.unresolved = [...unresolved];
  return chain;
}

/** One model name (not an alias) as a target, the way the provider registry resolves it. */
export function resolveModel(name: string, providers: Readonly<Record<string, ProviderLike>>): Target | undefined {
  const slash = name.indexOf('/');
  if (slash > 0) {
    const provider = name.slice(0, slash);
    const model = name.slice(slash + 1);
    if (model && Object.hasOwn(providers, provider)) return { id: name, provider, model };
  }
  for (const [provider, config] of Object.entries(providers)) {
    if (matchesModel(config.models, name)) return { id: `${provider}/${name}`, provider, model: name };
  }
  return undefined;
}

/** Every target in a lane, in chain order. */
export function laneTargets(chain: Chain, lane: Lane): Target[] {
  return chain[lane].flatMap((step) => step.targets.map((t) => t.target));
}

function expandList(names: readonly string[], config: ChainConfig, unresolved: Set<string>): ChainStep[] {
  const expansion = new Expansion(config, unresolved);
  for (const name of names) expansion.addChain(name);
  return expansion.steps;
}

/** One lane being built: remembers the targets and aliases it already holds. */
class Expansion {
  readonly steps: ChainStep[] = [];
  private readonly seenTargets = new Set<string>();
  private readonly expandedAliases = new Set<string>();
  private readonly config: ChainConfig;
  private readonly unresolved: Set<string>;

  constructor(config: ChainConfig, unresolved: Set<string>) {
    this.config = config;
    this.unresolved = unresolved;
  }

  /** The name's target group only (an alias's targets; a model's single target). */
  addGroup(name: string): void {
    const alias = this.alias(name);
    if (alias) {
      // Not marked expanded: naming the primary alias among the fallbacks brings in its chain.
      this.push(name, this.aliasTargets(alias, new Set([name]), 1));
    } else {
      this.push(name, this.modelTarget(name));
    }
  }

  /** The name's group and, for an alias, its fallbacks after it, depth first. */
  addChain(name: string): void {
    const alias = this.alias(name);
    if (!alias) {
      this.push(name, this.modelTarget(name));
      return;
    }
    if (this.expandedAliases.has(name)) return;
    this.expandedAliases.add(name);
    this.push(name, this.aliasTargets(alias, new Set([name]), 1));
    for (const fallback of alias.fallbacks) this.addChain(fallback);
  }

  private alias(name: string): Alias | undefined {
    const aliases = this.config.models ?? {};
    return Object.hasOwn(aliases, name) ? aliases[name] : undefined;
  }

  private modelTarget(name: string): WeightedTarget[] {
    const target = resolveModel(name, this.config.providers);
    if (!target) {
      this.unresolved.add(name);
      return [];
    }
    return [{ target, weight: 1 }];
  }

  /** An alias's targets; inner aliases share out their outer weight. `path` cuts cycles. */
  private aliasTargets(alias: Alias, path: Set<string>, share: number): WeightedTarget[] {
    const total = alias.targets.reduce((sum, t) => sum + t.weight, 0);
    const out: WeightedTarget[] = [];
    for (const entry of alias.targets) {
      const weight = (share * entry.weight) / total;
      const inner = this.alias(entry.model);
      if (inner) {
        if (path.has(entry.model)) continue;
        out.push(...this.aliasTargets(inner, new Set([...path, entry.model]), weight));
      } else {
        out.push(...this.modelTarget(entry.model).map((t) => ({ target: t.target, weight })));
      }
    }
    return out;
  }

  private push(via: string, targets: WeightedTarget[]): void {
    const fresh: WeightedTarget[] = [];
    for (const t of targets) {
      const existing = fresh.find((f) => f.target.id === t.target.id);
      if (existing) {
        existing.weight += t.weight;
        continue;
      }
      if (this.seenTargets.has(t.target.id)) continue;
      fresh.push({ ...t });
    }
    for (const t of fresh) this.seenTargets.add(t.target.id);
    if (fresh.length > 0) this.steps.push({ via, targets: fresh });
  }
}
