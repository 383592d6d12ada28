import { hostMatches, type RouteMatch, underPrefix } from "./route-match.ts";

/**
 * Whether every request `later` matches is matched by `earlier` already: then `later` can never
 * be reached, since the first matching route wins. Used by config validation, so a shadowed
 * route is refused at start rather than silently dead.
 */
export function covers(earlier: RouteMatch | undefined, later: RouteMatch | undefined): boolean {
  if (!earlier) return true;
  if (!later) return isEmpty(earlier);
  if (earlier.host) {
    const wide = earlier.host;
    const narrow = later.host;
    if (!narrow) return false;
    if (wide.exact !== undefined) {
      if (narrow.exact !== wide.exact) return false;
    } else if (narrow.exact !== undefined ? !hostMatches(wide, narrow.exact) : !narrow.suffix.endsWith(wide.suffix)) {
      return false;
    }
  }
  if (earlier.pathPrefix !== undefined) {
    if (later.pathPrefix === undefined || !underPrefix(later.pathPrefix, earlier.pathPrefix)) return false;
  }
  if (earlier.methods) {
    if (!later.methods || [...later.methods].some((m) => !earlier.methods!.has(m))) return false;
  }
  for (const [name, want] of earlier.headers ?? []) {
    const same = later.headers?.find(([n]) => n === name);
    if (!same || (want !== true && same[1] !== want)) return false;
  }
  return true;
}

function isEmpty(match: RouteMatch): boolean {
  return !match.host && match.pathPrefix === undefined && !match.methods && !match.headers?.length;
}
