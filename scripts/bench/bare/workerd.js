// The runtime's own limit on workerd: a Worker that answers every request with
// fetch(UPSTREAM + path). scripts/bench/targets.ts embeds it in a generated workerd config.
export default {
  fetch(request, env) {
    const url = request.url;
    return fetch(env.UPSTREAM + url.slice(url.indexOf("/", url.indexOf("://") + 3)));
  },
};
