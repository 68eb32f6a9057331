// Model name patterns in config: exact names, or globs where "*" matches any run of characters.

export function matchesModel(patterns: string[], model: string): boolean {
  return patterns.some((pattern) => (pattern.includes('*') ? globToRegExp(pattern).test(model) : pattern === model));
}

export function exactModels(patterns: string[]): string[] {
  return patterns.filter((p) => !p.includes('*'));
}

function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`);
}
